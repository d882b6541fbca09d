from tests.support.fixtures import dist_builder, fake_upstream

__all__ = ["dist_builder", "fake_upstream"]
