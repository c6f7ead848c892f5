"""The composition root: tracecode built from its settings, for every entry point.

The HTTP app (:func:`http_app`, what ``tracecode serve`` runs in each worker), the command
line (:func:`open_ledger`, :func:`read_models`) and the tests all build through here, so
that the ledger, its group committer, the read-model runner, the outbound delivery
(webhooks) and who may ask (API keys, JWTs) are wired in one place. This module is the only
one that knows both the inbound adapters (HTTP) and the outbound ones (webhooks, the 医保
stand-in the command line runs); they do not know each other.

Settings (environment):

* ``TRACECODE_DATABASE_URL`` — the store (:mod:`ledger.settings`; SQLite file by default);
* ``TRACECODE_AUTH`` — ``on`` (the default) or ``off``: a development setting under which
  every request has full rights, announced loudly at start;
* ``TRACECODE_JWT_*`` — an identity provider's key set for OAuth2 bearer JWTs
  (:mod:`adapters.http.bearer_jwt`);
* ``TRACECODE_WEBHOOK_ALLOW_HOSTS`` — internal hosts webhooks may call
  (:mod:`adapters.webhooks.destinations`);
* ``TRACECODE_PATIENT_KEY`` / ``TRACECODE_PATIENT_KEY_FILE`` — the key of patient
  pseudonyms (:mod:`ledger.patient_key`);
* the capture limits (:func:`epcis.limits.capture_limits`) and the server's transport
  settings (:mod:`adapters.http.transport`);
* the outbox (:class:`OutboxSettings`) and its platforms' endpoints
  (:mod:`adapters.nhsa.delivery`, :mod:`adapters.beijing.delivery`);
* ``TRACECODE_PROJECTOR`` — where the followers of the log run (the views, webhook
  delivery, the outbox: :func:`start_followers`): ``process`` (the default of ``tracecode
  serve``: one child process of the server, :mod:`adapters.projector`), ``inline`` (in each
  server process, as threads; the default of the app factory run alone) or ``none`` (not
  by the server: run ``tracecode project`` yourself).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from adapters.http.authentication import Authenticator
    from adapters.http.bearer_jwt import JwtSettings
    from adapters.webhooks import DestinationPolicy, WebhookTargets
    from ledger.api_keys import KeyRing
    from ledger.application import Ledger
    from ledger.settings import StoreSettings
    from ledger.writer import GroupCommitter
    from projections.runner import ReadModelRunner

# Imports are inside the functions: the command line's ``--help`` must not pay for the HTTP
# stack, the ledger or the projections (tests/test_cli_imports.py).

AUTH_ENV = "TRACECODE_AUTH"
PROJECTOR_ENV = "TRACECODE_PROJECTOR"
PROJECTOR_LAYOUTS = ("process", "inline", "none")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


OUTBOX_PLATFORMS = ("nhsa", "beijing")


@dataclass(frozen=True)
class OutboxSettings:
    """How the outbox runs (environment):

    * ``TRACECODE_OUTBOX_PLATFORMS`` — the platforms messages are derived for, of
      ``nhsa,beijing`` (the default: both); empty: none;
    * ``TRACECODE_OUTBOX_DELIVERY`` — ``serve`` (the default: ``tracecode serve`` derives
      and delivers in the background) or ``separate`` (only ``tracecode outbox run`` does,
      in its own process);
    * ``TRACECODE_OUTBOX_POLL_SECONDS`` (0.5), ``TRACECODE_OUTBOX_BACKOFF_SECONDS`` (1),
      ``TRACECODE_OUTBOX_MAX_BACKOFF_SECONDS`` (300): how often to look, the first pause
      after a failed send and the longest;
    * ``TRACECODE_OUTBOX_LEASE_SECONDS`` (30): one process delivers a platform's messages
      at a time; when it dies another takes over after this long."""

    platforms: tuple[str, ...] = OUTBOX_PLATFORMS
    in_server: bool = True
    poll: float = 0.5
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    lease: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OutboxSettings:
        named = env.get("TRACECODE_OUTBOX_PLATFORMS")
        platforms = (
            OUTBOX_PLATFORMS
            if named is None
            else tuple(p.strip() for p in named.split(",") if p.strip())
        )
        unknown = [p for p in platforms if p not in OUTBOX_PLATFORMS]
        if unknown:
            raise SettingsError(
                f"TRACECODE_OUTBOX_PLATFORMS: {', '.join(unknown)}: not one of "
                + ", ".join(OUTBOX_PLATFORMS)
            )
        where = env.get("TRACECODE_OUTBOX_DELIVERY", "serve").strip().lower() or "serve"
        if where not in ("serve", "separate"):
            raise SettingsError(
                f"TRACECODE_OUTBOX_DELIVERY={where!r}: use serve (the default) or separate"
            )

        def seconds(name: str, default: float) -> float:
            value = env.get(name)
            try:
                number = float(value) if value else default
            except ValueError:
                raise SettingsError(f"{name}={value!r}: not a number of seconds") from None
            if number <= 0:
                raise SettingsError(f"{name}={value!r}: must be more than 0")
            return number

        return cls(
            platforms=platforms,
            in_server=where == "serve",
            poll=seconds("TRACECODE_OUTBOX_POLL_SECONDS", 0.5),
            base_backoff=seconds("TRACECODE_OUTBOX_BACKOFF_SECONDS", 1.0),
            max_backoff=seconds("TRACECODE_OUTBOX_MAX_BACKOFF_SECONDS", 300.0),
            lease=seconds("TRACECODE_OUTBOX_LEASE_SECONDS", 30.0),
        )


@dataclass
class Outboxes:
    """The outbox running: its deriving runner and one delivery per platform."""

    runner: ReadModelRunner
    deliveries: list[Any]

    def run_once(self) -> int:
        """Derive what is new, then one delivery round per platform; how many sent."""
        self.runner.run_until_caught_up()
        return sum(delivery.deliver() for delivery in self.deliveries)

    def close(self) -> None:
        for delivery in self.deliveries:
            delivery.close()
        self.runner.close()


def outboxes(ledger: Ledger, settings: OutboxSettings | None = None) -> Outboxes:
    """The outbox over ``ledger`` with the platforms of the settings."""
    from adapters.beijing.delivery import BeijingTransport
    from adapters.beijing.owed import BeijingOwes
    from adapters.nhsa.delivery import NhsaSettings, NhsaTransport
    from adapters.nhsa.owed import NhsaOwes
    from ledger.settlement_persons import SettlementPersons
    from projections.outbox import OutboxDelivery, outbox_runner

    chosen = settings or OutboxSettings.from_env()
    parts: list[tuple[Any, Any]] = []
    batching: dict[str, dict[str, Any]] = {}
    if "nhsa" in chosen.platforms:
        try:
            nhsa = NhsaSettings.from_env()
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        persons = SettlementPersons(ledger)
        parts.append((lambda: NhsaOwes(ledger), NhsaTransport(nhsa, persons.find)))
        batching["nhsa"] = {"batch_size": nhsa.batch_size, "batch_delay": nhsa.batch_delay}
    if "beijing" in chosen.platforms:
        try:
            beijing = BeijingTransport.from_env(os.environ)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        parts.append((lambda: BeijingOwes(ledger), beijing))
    # the deriving thread and each delivering one have their own rules' objects: these keep
    # a batch's state while they work
    runner = outbox_runner(ledger, [make() for make, _ in parts])
    deliveries = [
        OutboxDelivery(
            runner,
            owes,
            transport,
            base_backoff=chosen.base_backoff,
            max_backoff=chosen.max_backoff,
            lease_seconds=chosen.lease,
            event_of=ledger.get_event,
            **batching.get(owes.platform, {}),
        )
        for owes, transport in ((make(), transport) for make, transport in parts)
    ]
    return Outboxes(runner, deliveries)


def start_outbox(ledger: Ledger, settings: OutboxSettings) -> list[Callable[[], None]]:
    """Derive and deliver in the background (one thread deriving, one per platform
    delivering, so that one platform down holds back only its own messages); the stops."""
    from projections.outbound import Following
    from projections.runner import BackgroundRunner

    running = outboxes(ledger, settings)
    background = BackgroundRunner(running.runner, interval=settings.poll).start()
    following = [Following([d], settings.poll).start() for d in running.deliveries]
    return [running.runner.close, background.stop, *(f.stop for f in following)]


def projector_layout(env: Mapping[str, str] = os.environ, default: str = "inline") -> str:
    """Where the followers of the log run (``TRACECODE_PROJECTOR``): ``process``, ``inline``
    or ``none``; ``default`` when it is not set (``tracecode serve``: ``process``)."""
    value = env.get(PROJECTOR_ENV, "").strip().lower() or default
    if value not in PROJECTOR_LAYOUTS:
        raise SettingsError(
            f"{PROJECTOR_ENV}={value!r}: use process (a projector process beside the server, "
            "the default of tracecode serve), inline (in each server process) or none "
            "(run tracecode project yourself)"
        )
    return value


def authentication_on(env: Mapping[str, str] = os.environ) -> bool:
    value = env.get(AUTH_ENV, "on").strip().lower()
    if value in ("on", "", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise SettingsError(f"{AUTH_ENV}={value!r}: use on (the default) or off")


@dataclass(frozen=True)
class Settings:
    """What tracecode is built from; :meth:`from_env` reads the environment."""

    store: StoreSettings | None = None
    """None: ``TRACECODE_DATABASE_URL``."""
    authentication: bool = True
    jwt: JwtSettings | None = None
    destinations: DestinationPolicy | None = None
    """Where webhooks may call; None: ``TRACECODE_WEBHOOK_ALLOW_HOSTS``."""
    max_events: int | None = None
    max_bytes: int | None = None
    outbox: OutboxSettings | None = None
    """None: the environment's (:class:`OutboxSettings`)."""
    key_cache_seconds: float = 1.0
    """How long a good API key is taken as good without asking the store again (a revoked
    key stops working within this time): ``TRACECODE_KEY_CACHE_SECONDS``."""
    projector: str = "inline"
    """Where the followers of the log run (:func:`projector_layout`): ``inline`` in this
    process; ``process`` or ``none`` apart from it."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        from adapters.http.authentication import DEFAULT_KEY_CACHE, KEY_CACHE_ENV
        from adapters.http.bearer_jwt import JwtSettings
        from adapters.webhooks import DestinationPolicy
        from epcis.limits import env_seconds
        from ledger.patient_key import check_patient_key
        from projections.partitions import partition_size

        try:
            check_patient_key(env)
            partition_size(env)  # read when view tables are made: a bad value stops the start
            jwt = JwtSettings.from_env(env)
            remember = env_seconds(KEY_CACHE_ENV, DEFAULT_KEY_CACHE, zero=True)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        values: dict[str, Any] = {
            "authentication": authentication_on(env),
            "jwt": jwt,
            "destinations": DestinationPolicy.from_env(env),
            "key_cache_seconds": remember,
            "outbox": OutboxSettings.from_env(env),
            "projector": projector_layout(env),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class System:
    """Tracecode running: what the HTTP app serves from (see :class:`adapters.http.state`)."""

    ledger: Ledger
    authenticator: Authenticator
    runner: ReadModelRunner
    committer: GroupCommitter
    webhooks: Any
    """What the subscription routes ask of the outbound webhooks (destinations, positions)."""
    own_ledger: bool = True
    views_apart: bool = False
    """The views are kept caught up by a projector process, not by this one."""
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop in the reverse order of starting: the committer first (after the captures
        it holds are committed), then delivery and the projections; close the ledger if
        this system opened it."""
        self.committer.close()
        for stop in reversed(self._stops):
            stop()
        self.runner.close()
        if self.own_ledger:
            from ledger.library_snapshot import SNAPSHOT_EVERY

            # the next start restores the library from here, not from an older snapshot
            self.ledger.snapshot_library(every=SNAPSHOT_EVERY)
            self.ledger.close()


def authenticator(settings: Settings, keys: KeyRing) -> Authenticator:
    from adapters.http.authentication import Authenticator, RecentKeys
    from adapters.http.bearer_jwt import JwtVerifier

    jwt = JwtVerifier(settings.jwt) if settings.jwt is not None else None
    remembered = RecentKeys(keys, settings.key_cache_seconds)
    return Authenticator(remembered, jwt, enabled=settings.authentication)


def start_followers(
    ledger: Ledger, runner: ReadModelRunner, settings: Settings
) -> list[Callable[[], None]]:
    """Start what follows the log, on threads of this process: the views kept caught up
    (``runner``'s), webhook delivery and, when the outbox is delivered by the server
    (:class:`OutboxSettings`), the outbox; the stops, in the order of starting."""
    from adapters.projector import VIEWS_POLL_SECONDS
    from adapters.webhooks import DestinationPolicy, WebhookDelivery
    from projections.outbound import Following
    from projections.runner import BackgroundRunner

    policy = settings.destinations or DestinationPolicy.from_env()
    webhooks = WebhookDelivery(ledger, runner, policy=policy)
    views = BackgroundRunner(runner, interval=VIEWS_POLL_SECONDS, log_end=ledger.log_position)
    views.start()
    outbound = Following([webhooks], webhooks.interval).start()
    stops: list[Callable[[], None]] = [views.stop, outbound.stop]
    outbox = settings.outbox or OutboxSettings.from_env()
    if outbox.in_server and outbox.platforms:
        stops += start_outbox(ledger, outbox)
    return stops


def prepare_tables(runner: ReadModelRunner, settings: Settings) -> WebhookTargets:
    """Make the read side's tables (views, outbound positions, outbox) if they are not
    there, before any thread or process writes the views: SQLite allows one writer (a
    CREATE TABLE racing a batch failed "database is locked"), and PostgreSQL refuses two
    sessions creating one table at once. What the subscription routes ask of webhooks."""
    from adapters.webhooks import DestinationPolicy, WebhookTargets
    from projections.outbox import create_tables as create_outbox_tables

    targets = WebhookTargets(settings.destinations or DestinationPolicy.from_env(), runner)
    create_outbox_tables(runner)
    return targets


def start_system(settings: Settings, ledger: Ledger | None = None) -> System:
    """Open (or use) the ledger and start what serving needs: the group committer and,
    when the followers run in this process (``settings.projector == "inline"``), the read
    models kept caught up in the background, webhook delivery and the outbox. Otherwise a
    projector process follows the log (:mod:`adapters.projector`), and reads wait for it
    (:mod:`adapters.http.freshness`)."""
    from ledger.api_keys import KeyRing
    from ledger.application import Ledger
    from ledger.writer import GroupCommitter
    from projections.runner import ReadModelRunner

    own = ledger is None
    opened = Ledger(settings.store) if ledger is None else ledger
    opened.warm_library()  # the code library the scans check: now, not at the first scan
    if own:
        # a served process: the library just built is millions of long-lived objects that
        # every full collection would walk, the whole process stopped meanwhile (1,570,358
        # codes: 4.7-5.2 s a collection); frozen, the collector leaves them alone
        gc.freeze()
    runner = ReadModelRunner(opened)
    keys = KeyRing(opened)
    webhooks = prepare_tables(runner, settings)
    inline = settings.projector == "inline"
    stops = start_followers(opened, runner, settings) if inline else []
    return System(
        ledger=opened,
        authenticator=authenticator(settings, keys),
        runner=runner,
        committer=GroupCommitter(opened),
        webhooks=webhooks,
        own_ledger=own,
        views_apart=not inline,
        _stops=stops,
    )


def http_app(
    ledger: Ledger | None = None,
    *,
    max_events: int | None = None,
    max_bytes: int | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The HTTP app (``uvicorn --factory adapters.bootstrap:http_app``). Given a ledger, the
    app uses it and leaves closing it to the caller; else it opens the configured store at
    start and closes it at shutdown."""
    from adapters.http.app import create_app

    chosen = settings or Settings.from_env(max_events=max_events, max_bytes=max_bytes)
    return create_app(
        lambda: start_system(chosen, ledger),
        max_events=chosen.max_events,
        max_bytes=chosen.max_bytes,
        authentication=chosen.authentication,
    )


def open_ledger(*, read_only: bool = False) -> Ledger:
    """The ledger ``TRACECODE_DATABASE_URL`` names (see :class:`ledger.application.Ledger`)."""
    from ledger.application import Ledger

    return Ledger(read_only=read_only)


def read_models(ledger: Ledger) -> ReadModelRunner:
    """The read-model runner over a ledger (close it before the ledger)."""
    from projections.runner import ReadModelRunner

    return ReadModelRunner(ledger)


def first_admin_key(ledger: Ledger) -> str | None:
    """On a store without any API key, create the first admin key and return it (once)."""
    from ledger.api_keys import KeyRing

    return KeyRing(ledger).first_admin_key()


def serve(host: str, port: int, workers: int, *, say: Callable[[str], None]) -> None:
    """Run the HTTP server: check the settings, prepare the store (tables, the first admin
    key) once before the workers start, announce how it is protected, start the projector
    process (``TRACECODE_PROJECTOR``, :func:`projector_layout`), then serve; at the end stop
    the projector. (On SIGTERM or SIGINT uvicorn ends by raising the signal again, which
    ends this process before it can stop the projector: the projector sees that its parent
    is gone and stops itself, :func:`adapters.projector.run_projector`.)"""
    import uvicorn

    from adapters.http.transport import ServerSettings
    from adapters.projector import ChildProjector, projector_command
    from ledger import library_snapshot

    try:
        transport = ServerSettings.from_env()
        settings = Settings.from_env()
        layout = projector_layout(default="process")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    ledger = open_ledger()
    try:
        say(f"tracecode: store {ledger.settings.described}")
        if layout != "inline" and ledger.settings.env.get("SQLITE_DBNAME") == ":memory:":
            raise SettingsError(
                f"{PROJECTOR_ENV}={layout}: an in-memory SQLite store is not shared with "
                f"another process; use {PROJECTOR_ENV}=inline or a store on disk"
            )
        key = first_admin_key(ledger) if settings.authentication else None
        # once here, not in every worker: a long fold leaves a snapshot they all start from
        say(f"tracecode: code library: {library_snapshot.prepare(ledger)}")
        runner = read_models(ledger)
        try:
            prepare_tables(runner, settings)
        finally:
            runner.close()
    finally:
        ledger.close()
    del ledger  # and a code library it may hold: each worker keeps its own
    if not settings.authentication:
        say(
            "tracecode: WARNING: authentication is OFF (TRACECODE_AUTH=off): anyone who "
            f"reaches {host}:{port} can capture, read and administer everything. "
            "Development only."
        )
    elif key is not None:
        say(
            "tracecode: no API key existed, so the first admin key was created. It is shown "
            "this once; send it as 'Authorization: Bearer KEY' and make others with "
            "`tracecode keys create`:\n\n    " + key + "\n"
        )
    else:
        say("tracecode: requests need 'Authorization: Bearer KEY' (tracecode keys create)")
    say(
        {
            "process": "tracecode: the views, webhooks and outbox are followed by a projector "
            "process (TRACECODE_PROJECTOR=process)",
            "inline": "tracecode: the views, webhooks and outbox are followed in each server "
            "process (TRACECODE_PROJECTOR=inline)",
            "none": "tracecode: TRACECODE_PROJECTOR=none: run `tracecode project` to keep the "
            "views, webhooks and outbox following the log",
        }[layout]
    )
    say(f"tracecode: serving http://{host}:{port} (OpenAPI at /docs)")
    sys.stderr.flush()
    before = os.environ.get(PROJECTOR_ENV)
    os.environ[PROJECTOR_ENV] = layout  # what the workers read (Settings.from_env)
    child = ChildProjector(projector_command()).start() if layout == "process" else None
    try:
        uvicorn.run(
            "adapters.bootstrap:http_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            http=transport.protocol_class(),
            timeout_keep_alive=transport.keep_alive,
            backlog=transport.backlog,
        )
    finally:
        if child is not None:
            child.stop()
        if before is None:  # as it was: a caller in the same process (a test) reads it next
            os.environ.pop(PROJECTOR_ENV, None)
        else:
            os.environ[PROJECTOR_ENV] = before


def project(*, say: Callable[[str], None], parent: int | None = None) -> None:
    """Follow the log in the foreground until SIGTERM or SIGINT (``tracecode project``, and
    the server's projector process): the views, webhook delivery and the outbox
    (:func:`start_followers`), while holding the store's projector lock
    (:class:`adapters.projector.ProjectorLock`; without it, wait as a stand-by).
    ``parent``: stop when that process is no longer this one's parent (the server died)."""
    import threading

    from adapters.projector import ProjectorLock, run_projector, stop_on_signals

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    stop = threading.Event()
    stop_on_signals(stop)
    ledger = open_ledger()
    try:
        say(f"tracecode: store {ledger.settings.described}")
        runner = read_models(ledger)
        try:
            prepare_tables(runner, settings)
            run_projector(
                ProjectorLock(ledger),
                lambda: start_followers(ledger, runner, settings),
                stop,
                say=lambda line: _tell(say, f"tracecode: {line}"),
                parent=parent,
            )
        finally:
            runner.close()
    finally:
        ledger.close()
    _tell(say, "tracecode: projector stopped")


def _tell(say: Callable[[str], None], line: str) -> None:
    """Say a line; a projector whose server died has nobody to tell (a broken pipe)."""
    with contextlib.suppress(OSError):
        say(line)


def serve_nhsa_standin(
    host: str, port: int, *, fields: str | None, say: Callable[[str], None]
) -> None:
    """Run the stand-in 医保 platform (:mod:`adapters.nhsa.standin`) until stopped: no
    authentication, no store; it checks messages against the field tables of ``fields``
    (else ``TRACECODE_NHSA_FIELDS``, else the baseline)."""
    import uvicorn

    from adapters.nhsa.fields import TablesError, load
    from adapters.nhsa.standin import StandIn, config

    try:
        tables = load(fields)
    except TablesError as exc:
        raise SettingsError(str(exc)) from None
    say(f"tracecode: stand-in 医保 platform at http://{host}:{port}/ (no authentication)")
    say(f"tracecode: fields from {tables.path}")
    sys.stderr.flush()
    uvicorn.Server(config(StandIn(tables), host, port)).run()


STANDINS = {"beijing": ("adapters.beijing.standin:create_app", "the stand-in Beijing platform")}
"""The stand-in platforms ``tracecode standin NAME`` runs: their app factory, their name."""


def serve_standin(name: str, host: str, port: int, *, say: Callable[[str], None]) -> None:
    """Run a stand-in platform (no authentication: it is for tests and demonstrations)."""
    import uvicorn

    factory, described = STANDINS[name]
    say(f"tracecode: {described} at http://{host}:{port}/ (GET /messages, POST /faults)")
    sys.stderr.flush()
    uvicorn.run(factory, factory=True, host=host, port=port, access_log=False)
