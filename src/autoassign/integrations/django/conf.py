"""Settings in one place: ``AUTOASSIGN = {...}`` in ``settings.py``, read by
:func:`get_autoassign` into one :class:`DjangoAutoassign` per process.

Every key and its meaning is in ``docs/django.md``. A bad value raises
:class:`~autoassign.errors.ConfigurationError` whose message (and ``field``) names the
key, e.g. ``AUTOASSIGN['CAPACITY_LIMIT']``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from importlib import import_module
from typing import Any

import attrs
import django.dispatch
import redis as redis_py
from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string

from autoassign.adapters.redis import RedisBackend
from autoassign.errors import ConfigurationError
from autoassign.integrations.django.directory import (
    DjangoDirectory,
    Members,
    PolicySource,
)
from autoassign.integrations.django.jobs import InlineJobQueue, RedisJobQueue
from autoassign.integrations.django.repository import (
    ConversationMapping,
    DjangoConversationRepository,
)
from autoassign.jobs import DEFAULT_LEASE_TTL
from autoassign.model import AccountId, AgentId, AssignmentPolicy, InboxId
from autoassign.ports import AgentWeights, Clock, EventBus, JobQueue
from autoassign.sticky import StickyRouting
from autoassign.wiring import Autoassign, build_autoassign

__all__ = [
    "CONFIG_APP",
    "JOB_ENGINES",
    "KEYS",
    "DjangoAutoassign",
    "SignalEventBus",
    "autoassign_event",
    "build_from_settings",
    "bundle",
    "get_autoassign",
    "reset_autoassign",
]

autoassign_event = django.dispatch.Signal()
"""Sent with ``event=<the domain event>`` for every event the library publishes."""

CONFIG_APP = "autoassign.integrations.django.config"
"""The optional configuration models' app (``AUTOASSIGN['POLICY'] = "models"``)."""

KEYS = frozenset(
    {
        "CONVERSATIONS",
        "INBOX_MODEL",
        "INBOX_ENABLED",
        "MEMBERS",
        "AGENT_INBOXES",
        "ACCOUNT",
        "POLICY",
        "CAPACITY_LIMIT",
        "REDIS",
        "PREFIX",
        "IDLE_TIMEOUT",
        "JOBS",
        "IS_AGENT",
        "CLOCK",
        "EVENTS",
        "OUTBOX",
        "STICKY",
        "AGENT_WEIGHTS",
        "OPTIONS",
    }
)
"""The keys ``settings.AUTOASSIGN`` may hold."""


class SignalEventBus:
    """:class:`~autoassign.ports.EventBus` that sends :data:`autoassign_event`."""

    def publish(self, event: object) -> None:
        autoassign_event.send(sender=type(event), event=event)


def _is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


@attrs.frozen(kw_only=True)
class DjangoAutoassign:
    """What the integration built from settings: the library's bundle plus the
    Django-side pieces the hooks, middleware and commands use."""

    bundle: Autoassign
    repository: DjangoConversationRepository
    directory: DjangoDirectory
    backend: RedisBackend
    """Presence (heartbeats, statuses), ledger, rotation and lease on Redis."""
    jobs: JobQueue
    account: AccountId
    is_agent: Callable[[Any], bool]
    redis: Any
    owns_redis: bool = False
    """The client was built from a URL in settings (closed by :func:`reset_autoassign`)."""

    def close(self) -> None:
        """Close the Redis client if the integration built it."""
        if self.owns_redis:
            self.redis.close()


def _key(name: str) -> str:
    return f"AUTOASSIGN[{name!r}]"


def _callable(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    value = config.get(name, default)
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ConfigurationError(
                f"{_key(name)}: cannot import {value!r}: {exc}", field=_key(name)
            ) from None
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"{_key(name)} must be a callable or its dotted path, got {value!r}",
            field=_key(name),
        )
    return value


def _wrap(name: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ConfigurationError as exc:
        raise ConfigurationError(f"{_key(name)}: {exc}", field=_key(name)) from exc
    except TypeError as exc:
        raise ConfigurationError(f"{_key(name)}: {exc}", field=_key(name)) from exc


def build_from_settings(config: Mapping[str, Any] | None = None) -> DjangoAutoassign:
    """Build everything from ``config`` (default ``settings.AUTOASSIGN``)."""
    if config is None:
        config = getattr(settings, "AUTOASSIGN", None)
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            "settings.AUTOASSIGN must be a dict (see docs/django.md)",
            field="AUTOASSIGN",
        )
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise ConfigurationError(
            f"{_key(unknown[0])} is not a setting; known: {sorted(KEYS)}",
            field=_key(unknown[0]),
        )
    for required in ("CONVERSATIONS", "INBOX_MODEL", "MEMBERS", "REDIS"):
        if required not in config:
            raise ConfigurationError(
                f"{_key(required)} is required", field=_key(required)
            )
    conversations = config["CONVERSATIONS"]
    if not isinstance(conversations, (Mapping, ConversationMapping)):
        raise ConfigurationError(
            f"{_key('CONVERSATIONS')} must be a dict of ConversationMapping fields",
            field=_key("CONVERSATIONS"),
        )
    mapping = (
        conversations
        if isinstance(conversations, ConversationMapping)
        else _wrap("CONVERSATIONS", lambda: ConversationMapping(**conversations))
    )
    repository = DjangoConversationRepository(mapping)
    _wrap("CONVERSATIONS", lambda: repository.fields)
    account: AccountId = config.get("ACCOUNT", 1)
    policy_config = config.get("POLICY", {})
    policy: AssignmentPolicy | None = None
    source: PolicySource | None = None
    if policy_config == "models":
        source = _model_policies(account)
    elif policy_config is not None:
        if not isinstance(policy_config, Mapping):
            raise ConfigurationError(
                f"{_key('POLICY')} must be a dict of AssignmentPolicy fields, "
                f"'models' or None",
                field=_key("POLICY"),
            )
        policy = _wrap(
            "POLICY",
            lambda: AssignmentPolicy(
                **{"id": 1, "account": account, **dict(policy_config)}
            ),
        )
    members: Members = _callable(config, "MEMBERS")
    directory = _wrap(
        "CAPACITY_LIMIT",
        lambda: DjangoDirectory(
            inbox_model=config["INBOX_MODEL"],
            members=members,
            enabled=config.get("INBOX_ENABLED"),
            account_id=account,
            policy=policy,
            capacity_limit=config.get("CAPACITY_LIMIT"),
            agent_inboxes=_callable(config, "AGENT_INBOXES"),
            policy_source=source,
        ),
    )
    _wrap("INBOX_MODEL", directory._inboxes)
    redis = _redis(config)
    clock_factory = _callable(config, "CLOCK")
    clock: Clock | None = clock_factory() if clock_factory is not None else None
    idle = config.get("IDLE_TIMEOUT", 300)
    if type(idle) not in (int, float) or idle <= 0:
        raise ConfigurationError(
            f"{_key('IDLE_TIMEOUT')} must be a positive number of seconds, got {idle!r}",
            field=_key("IDLE_TIMEOUT"),
        )
    prefix = config.get("PREFIX", "autoassign")
    backend = _wrap(
        "PREFIX",
        lambda: RedisBackend(
            redis, prefix=prefix, presence_window=timedelta(seconds=idle), clock=clock
        ),
    )
    jobs = _job_queue(config.get("JOBS", "inline"), redis, backend)
    events_factory = _callable(config, "EVENTS")
    events: EventBus = events_factory() if events_factory else SignalEventBus()
    outbox = config.get("OUTBOX", False)
    if not isinstance(outbox, bool):
        raise ConfigurationError(
            f"{_key('OUTBOX')} must be True or False, got {outbox!r}",
            field=_key("OUTBOX"),
        )
    sticky = _sticky(config.get("STICKY"), repository)
    weights = _agent_weights(config)
    options = config.get("OPTIONS", {})
    if not isinstance(options, Mapping):
        raise ConfigurationError(
            f"{_key('OPTIONS')} must be a dict of build_autoassign arguments",
            field=_key("OPTIONS"),
        )
    bundle = _wrap(
        "OPTIONS",
        lambda: build_autoassign(
            directory=directory,
            conversations=repository,
            presence=backend.presence,
            ledger=backend.ledger,
            rotation=backend.rotation,
            lease=backend.lease,
            events=events,
            jobs=jobs,
            clock=clock,
            reservations=backend.reservations,
            **{
                "reassigner": repository,
                **({"outbox": backend.outbox} if outbox else {}),
                **({"sticky": sticky} if sticky is not None else {}),
                **({"agent_weights": weights} if weights is not None else {}),
                **dict(options),
            },
        ),
    )
    if isinstance(jobs, InlineJobQueue):
        jobs.bind(bundle.job.run)
    return DjangoAutoassign(
        bundle=bundle,
        repository=repository,
        directory=directory,
        backend=backend,
        jobs=jobs,
        account=account,
        is_agent=_callable(config, "IS_AGENT", _is_staff),
        redis=redis,
        owns_redis=isinstance(config["REDIS"], str) and "://" in config["REDIS"],
    )


JOB_ENGINES = ("inline", "redis", "celery", "rq")
"""What ``AUTOASSIGN['JOBS']`` (or its ``"ENGINE"``) may name."""

_ENGINE_KEYS = {
    "inline": frozenset({"ENGINE"}),
    "redis": frozenset({"ENGINE"}),
    "celery": frozenset({"ENGINE", "APP", "QUEUE", "TASK", "OPTIONS"}),
    "rq": frozenset({"ENGINE", "QUEUE", "JOB_TIMEOUT"}),
}


def _object(value: Any, name: str) -> Any:
    """``value``, or the object its dotted path names."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ConfigurationError(
            f"{_key(name)}: cannot import {value!r}: {exc}", field=_key(name)
        ) from None


def _sticky(setting: object, repository: DjangoConversationRepository) -> Any:
    """``AUTOASSIGN['STICKY'] = {"WINDOW": seconds}``: sticky agents over the mapping's
    ``contact`` field (``None``: off)."""
    if setting is None:
        return None
    key = _key("STICKY")
    window = setting.get("WINDOW") if isinstance(setting, Mapping) else None
    if (
        not isinstance(setting, Mapping)
        or set(setting) != {"WINDOW"}
        or isinstance(window, bool)
        or not isinstance(window, int | float)
    ):
        raise ConfigurationError(
            f"{key} must be {{'WINDOW': seconds}}, got {setting!r}", field=key
        )
    if repository.fields.contact is None:
        raise ConfigurationError(
            f"{key} needs a contact field in {_key('CONVERSATIONS')} "
            "('contact': 'submitter_email', for example)",
            field=key,
        )
    return _wrap(
        "STICKY",
        lambda: StickyRouting(history=repository, window=timedelta(seconds=window)),
    )


@attrs.frozen
class _FunctionWeights:
    """:class:`~autoassign.ports.AgentWeights` over a host function
    ``(account, agents, *, inbox) -> {agent: weight}``."""

    read: Callable[..., Mapping[AgentId, int]]

    def agent_weights(
        self, account: AccountId, agents: Collection[AgentId], *, inbox: InboxId
    ) -> Mapping[AgentId, int]:
        return self.read(account, agents, inbox=inbox)


def _agent_weights(config: Mapping[str, Any]) -> AgentWeights | None:
    """``AUTOASSIGN['AGENT_WEIGHTS']``: the agents' weights for the
    ``weighted_round_robin`` order, an :class:`~autoassign.ports.AgentWeights` or a
    function ``(account, agents, *, inbox)`` returning ``{agent: weight}`` (or its
    dotted path); ``None``: every agent has weight 1."""
    value = _object(config.get("AGENT_WEIGHTS"), "AGENT_WEIGHTS")
    if value is None or isinstance(value, AgentWeights):
        return value
    if callable(value):
        return _FunctionWeights(value)
    key = _key("AGENT_WEIGHTS")
    raise ConfigurationError(
        f"{key} must be an AgentWeights, a function (account, agents, *, inbox) "
        f"returning {{agent: weight}}, or its dotted path; got {value!r}",
        field=key,
    )


def _job_queue(setting: Any, redis: Any, backend: RedisBackend) -> JobQueue:
    """The job queue ``AUTOASSIGN['JOBS']`` names: ``"inline"``, ``"redis"``, ``"rq"``
    (the default queue on the ``REDIS`` connection), or a dict with ``"ENGINE"`` and
    that engine's options (``"celery"`` needs ``"APP"``)."""
    key = _key("JOBS")
    options: Mapping[str, Any]
    if isinstance(setting, str):
        options = {"ENGINE": setting}
    elif isinstance(setting, Mapping):
        options = setting
    else:
        raise ConfigurationError(
            f"{key} must be one of {', '.join(map(repr, JOB_ENGINES))} or a dict with "
            f"'ENGINE', got {setting!r}",
            field=key,
        )
    engine = options.get("ENGINE")
    if engine not in _ENGINE_KEYS:
        raise ConfigurationError(
            f"{key} engine must be one of {', '.join(map(repr, JOB_ENGINES))}, "
            f"got {engine!r}",
            field=key,
        )
    unknown = sorted(set(options) - _ENGINE_KEYS[engine])
    if unknown:
        raise ConfigurationError(
            f"{key}: {unknown[0]!r} is not an option of the {engine!r} engine; "
            f"known: {sorted(_ENGINE_KEYS[engine])}",
            field=key,
        )
    if engine == "inline":
        return InlineJobQueue()
    if engine == "redis":
        return RedisJobQueue(redis, prefix=backend.keys.prefix)
    if engine == "celery":
        return _celery_queue(options)
    return _rq_queue(options, redis)


def _text_option(options: Mapping[str, Any], name: str, default: str) -> str:
    value = options.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{_key('JOBS')}[{name!r}] must be a non-empty string, got {value!r}",
            field=_key("JOBS"),
        )
    return value


def _celery_queue(options: Mapping[str, Any]) -> JobQueue:
    key = _key("JOBS")
    if "APP" not in options:
        raise ConfigurationError(
            f"{key}: the 'celery' engine needs 'APP', the Celery app or its dotted "
            "path (e.g. {'ENGINE': 'celery', 'APP': 'mysite.celery.app'})",
            field=key,
        )
    try:
        from autoassign.integrations import celery as celery_integration  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigurationError(f"{key}: {exc}", field=key) from None
    app = _object(options["APP"], "JOBS")
    if not hasattr(app, "send_task"):
        raise ConfigurationError(
            f"{key}['APP'] must be a Celery app, got {app!r}", field=key
        )
    extra = options.get("OPTIONS", {})
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            f"{key}['OPTIONS'] must be a dict of send_task options", field=key
        )
    return celery_integration.CeleryJobQueue(
        app,
        queue=_text_option(
            options, "QUEUE", celery_integration.DEFAULT_ASSIGNMENT_QUEUE
        ),
        task_name=_text_option(options, "TASK", celery_integration.ASSIGNMENT_TASK),
        options=extra,
    )


def _rq_queue(options: Mapping[str, Any], redis: Any) -> JobQueue:
    key = _key("JOBS")
    try:
        import rq  # noqa: PLC0415 - only with this engine

        from autoassign.integrations import rq as rq_integration  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigurationError(f"{key}: {exc}", field=key) from None
    timeout = options.get("JOB_TIMEOUT", DEFAULT_LEASE_TTL.total_seconds())
    if type(timeout) not in (int, float) or timeout <= 0:
        raise ConfigurationError(
            f"{key}['JOB_TIMEOUT'] must be a positive number of seconds, got "
            f"{timeout!r}",
            field=key,
        )
    queue = rq.Queue(_text_option(options, "QUEUE", "default"), connection=redis)
    return rq_integration.RQJobQueue(queue, job_timeout=timedelta(seconds=timeout))


def _model_policies(account: AccountId) -> PolicySource:
    if not apps.is_installed(CONFIG_APP):
        raise ConfigurationError(
            f"{_key('POLICY')} = 'models' needs {CONFIG_APP!r} in INSTALLED_APPS",
            field=_key("POLICY"),
        )
    source = import_module(f"{CONFIG_APP}.source")
    return source.ModelPolicies(account)  # type: ignore[no-any-return]


def _redis(config: Mapping[str, Any]) -> Any:
    value = config["REDIS"]
    if isinstance(value, str) and "://" in value:
        return redis_py.Redis.from_url(value)
    factory = _callable(config, "REDIS")
    return factory()


_LOCK = threading.Lock()
_BUILT: dict[str, Any] = {}


def get_autoassign() -> DjangoAutoassign:
    """The :class:`DjangoAutoassign` of this process, built from settings on first use
    (and again in a forked child)."""
    pid = os.getpid()
    found = _BUILT.get("value")
    if found is not None and _BUILT.get("pid") == pid:
        return found  # type: ignore[no-any-return]
    with _LOCK:
        if _BUILT.get("value") is None or _BUILT.get("pid") != pid:
            _BUILT["value"] = build_from_settings()
            _BUILT["pid"] = pid
        return _BUILT["value"]  # type: ignore[no-any-return]


def bundle() -> Autoassign:
    """The library's bundle from settings (``autoassign explain --wiring
    autoassign.integrations.django.conf:bundle``)."""
    return get_autoassign().bundle


def reset_autoassign() -> None:
    """Forget the built integration (tests, or after changing settings), closing the
    Redis client it built from a URL."""
    with _LOCK:
        built = _BUILT.get("value")
        _BUILT.clear()
    if built is not None:
        built.close()
