"""The plain file records carry every column of the files table."""

from mirror.db.records import FileRecord
from mirror.db.schema import files


def test_file_record_fields_are_the_files_columns_in_order() -> None:
    assert list(FileRecord._fields) == [column.key for column in files.c]
