"""The storefront's shared Lambda layer: domain events, pure decisions, AWS adapters, projector.

The core (events and decisions) imports no AWS SDK; adapters live in `storefront.adapters`.
"""

import gc

# What a handler has loaded before its first storefront import (the runtime, boto3, Powertools) lives
# as long as the execution environment: frozen, the collections the rest of its init sets off (every
# few hundred objects it allocates) no longer traverse all of it, about 15 ms of each cold start
# (BENCHMARKS.md, cold start). Once a process: a reload (localfaas's in-process runtime, the tests)
# freezes nothing more, so what has become garbage since the first import is still collected.
if gc.get_freeze_count() == 0:
    gc.freeze()
