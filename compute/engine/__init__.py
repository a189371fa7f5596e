"""The offload engine: long computations behind an app, on a Dask cluster, for any work.

Knows nothing of any domain (importing it imports no kernel and no UI library). A
domain defines its kinds of work (:class:`Work` subclasses) and registers them with an
:class:`Engine`; every consumer (a browser session, an HTTP client, a notebook) then
gets, whatever the kind: deterministic keys shared across consumers and processes,
ownership and cancellation, honest state from the workers, parts streamed as they
finish, results and history persisted, fair turns and caps per payer.

See ``docs/architecture.md`` for how the modules fit together.
"""

from .cache import ResultCache
from .calls import CallWork, GraphWork, TaskJob, call_key
from .cluster import ClusterConnection, ReconnectWatch, configured_address, local_cluster
from .codecs import ArrayCodec, Codec, PickleCodec
from .driver import BACKGROUND_PRIORITY, Driver
from .engine import Engine, EngineUnavailable
from .fairness import FairQueue
from .interactive import Clock, LoopClock, ManualClock, Pacer
from .job import FINAL_STATES, LIVE_STATES, STATES, Job, JobCancelled, JobError, JobFailed, Part
from .limits import CostUnit, Ledger, LimitExceeded, Limits, consumer
from .manager import JobManager
from .parts import PartsJob, PartsWork
from .records import JobRecord
from .registry import JobRegistry
from .reports import JOB_ANNOTATION, PART_STARTED_TOPIC, StartReporter, report_started
from .schema import OverBudget
from .store import MISSING, ResultStore, StoreUnavailable
from .work import Kinds, Work, checked_key

__all__ = [
    "BACKGROUND_PRIORITY",
    "FINAL_STATES",
    "JOB_ANNOTATION",
    "LIVE_STATES",
    "MISSING",
    "PART_STARTED_TOPIC",
    "STATES",
    "ArrayCodec",
    "CallWork",
    "Clock",
    "ClusterConnection",
    "Codec",
    "CostUnit",
    "Driver",
    "Engine",
    "EngineUnavailable",
    "FairQueue",
    "GraphWork",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobManager",
    "JobRecord",
    "JobRegistry",
    "Kinds",
    "Ledger",
    "LimitExceeded",
    "Limits",
    "LoopClock",
    "ManualClock",
    "OverBudget",
    "Pacer",
    "Part",
    "PartsJob",
    "PartsWork",
    "PickleCodec",
    "ReconnectWatch",
    "ResultCache",
    "ResultStore",
    "StartReporter",
    "StoreUnavailable",
    "TaskJob",
    "Work",
    "call_key",
    "checked_key",
    "configured_address",
    "consumer",
    "local_cluster",
    "report_started",
]
