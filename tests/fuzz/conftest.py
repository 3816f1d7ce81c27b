from tests.functional.conftest import state_dir  # noqa: F401  (a fresh embedded profile per test)
