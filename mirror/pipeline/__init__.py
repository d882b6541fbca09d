"""The pipeline side: `mirror install` resolves pinned requirements against a mirror's signed
pages, downloads each file through TUF verification, and installs only that verified set."""
