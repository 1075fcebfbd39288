import pytest

from tests.train.rift_corpus import build_corpus


@pytest.fixture(scope="session")
def rift_corpus(tmp_path_factory):
    """A prepared, feature-extracted RIFT data folder shared by the training tests."""
    return build_corpus(tmp_path_factory.mktemp("rift-corpus"))
