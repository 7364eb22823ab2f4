"""The binding's classes that ``_icechunk_credentials.pyi`` describes (``_icechunk.pyi`` re-exports
them), under that name so that stubtest checks those stubs against them."""

# Star import: every public name of the binding (the stub says which are this module's).
from icechunk._icechunk import *  # noqa: F403
from icechunk._icechunk import _gcs_bearer_credential  # noqa: F401
