"""Key schema, hash tags and slots, the Lua rules, packaging of the scripts, and the
import boundary."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources

import pytest
from redis.crc import key_slot

from autoassign.adapters.redis import KeySchema, _scripts
from autoassign.errors import ConfigurationError


def test_key_formats() -> None:
    keys = KeySchema("app")
    assert keys.rotation(7) == "app:{i:7}:rr"
    assert keys.fair(7, "ann") == "app:{i:7}:fair:ann"
    assert keys.fair_last(7) == "app:{i:7}:fairlast"
    assert keys.lease("x") == "app:{i:x}:lease"
    assert keys.pending(7) == "app:{i:7}:pending"
    assert keys.status(3) == "app:{a:3}:status"
    assert keys.presence(3) == "app:{a:3}:presence"
    assert keys.online(3) == "app:{a:3}:online"
    assert keys.rotation_members(7) == "app:{i:7}:rrmembers"
    assert KeySchema().prefix == "autoassign"
    assert KeySchema("a:b.c").rotation(1) == "a:b.c:{i:1}:rr"


@pytest.mark.parametrize("prefix", ["", "a{b", "a}b", "{x}", "app:{tag}"])
def test_prefix_validation(prefix: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        KeySchema(prefix)
    assert info.value.field == "prefix"


@pytest.mark.parametrize("bad", ["a{b", "a}b"])
def test_braces_in_tagged_ids_are_rejected(bad: str) -> None:
    keys = KeySchema("app")
    with pytest.raises(ConfigurationError):
        keys.rotation(bad)
    with pytest.raises(ConfigurationError):
        keys.status(bad)


def test_bool_ids_are_rejected() -> None:
    with pytest.raises(ConfigurationError):
        KeySchema().rotation(True)


@pytest.mark.parametrize("inbox", [1, 987654321, "inbox-x", "a:b", "é"])
@pytest.mark.parametrize("prefix", ["autoassign", "myapp:autoassign", "x"])
def test_every_script_keys_share_one_slot(prefix: str, inbox: object) -> None:
    keys = KeySchema(prefix)
    # Per-inbox keys (ledger script, rotation script, lease, pending) share one slot.
    per_inbox = [
        keys.rotation(inbox),  # type: ignore[arg-type]
        keys.rotation_members(inbox),  # type: ignore[arg-type]
        keys.rotation_version(inbox),  # type: ignore[arg-type]
        keys.rotation_tags(inbox),  # type: ignore[arg-type]
        keys.rotation_clock(inbox),  # type: ignore[arg-type]
        keys.lease(inbox),  # type: ignore[arg-type]
        keys.pending(inbox),  # type: ignore[arg-type]
        keys.fair_last(inbox),  # type: ignore[arg-type]
        keys.outbox(inbox),  # type: ignore[arg-type]
        keys.outbox_due(inbox),  # type: ignore[arg-type]
        keys.outbox_conversations(inbox),  # type: ignore[arg-type]
        *(keys.fair(inbox, agent) for agent in (1, "ann", "x:y", "{z}")),  # type: ignore[arg-type]
    ]
    assert len({key_slot(k.encode()) for k in per_inbox}) == 1
    # The presence script reads both keys of one account: one slot.
    per_account = [keys.status(inbox), keys.presence(inbox), keys.online(inbox)]  # type: ignore[arg-type]
    assert len({key_slot(k.encode()) for k in per_account}) == 1


def test_inboxes_spread_over_slots() -> None:
    keys = KeySchema()
    assert len({key_slot(keys.rotation(i).encode()) for i in range(200)}) > 100


def test_scripts_are_packaged_and_follow_the_rules() -> None:
    lua_dir = resources.files("autoassign.adapters.redis") / "lua"
    names = sorted(
        p.name.removesuffix(".lua")
        for p in lua_dir.iterdir()
        if p.name.endswith(".lua")
    )
    assert names == sorted(_scripts.SCRIPT_NAMES)
    for name in names:
        text = _scripts.source(name)
        code = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith("--")
        )
        assert not text.startswith("#!"), name
        assert "KEYS[1]" in text.split("\n\n")[0] or "KEYS[1]" in text[:600], name
        assert "ARGV[" in text[:900], name
        for banned in ("'TIME'", "'KEYS'", "'SCAN'", "bit.", "struct.", "cmsgpack"):
            assert banned not in code, (name, banned)
        assert "redis.sha1hex" not in code
        assert "setresp" not in code
        # No key names built in Lua: every command's key argument is KEYS[n] (or the
        # local alias `key` of KEYS[1]); no string concatenation at all.
        assert ".." not in code, name
        for match in re.finditer(r"redis\.call\('(\w+)',\s*([^,)]+)", code):
            assert re.fullmatch(r"KEYS\[\d\]|key", match.group(2).strip()), (
                name,
                match.group(0),
            )
        # Every local: no globals (a global poisons a fakeredis server).
        for match in re.finditer(r"^\s*(\w+)\s*=", code, re.MULTILINE):
            assert re.search(rf"local\s+{match.group(1)}\b", code), (
                name,
                match.group(0),
            )


def test_import_without_redis_gives_a_clear_message() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "import autoassign, autoassign.adapters.memory\n"
        "try:\n"
        "    import autoassign.adapters.redis\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('imported without redis')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "autoassign[redis]" in out.stdout
