"""Every command in the README's bash blocks runs as written.

The blocks are read from README.md itself, so a command that changes there is what is tested.
Each `dagster ...` command runs for real against a temporary state directory (the README's
`.housing` is replaced by it), in the order the README gives them; `housing-api ...` and
`curl` ask a webserver started on that state; the read-only webserver of the README is started
and must answer and refuse a launch; `make ...` targets are checked with `make -n` (they install
and run the whole suite, or run for minutes). The one command the README says must fail (the
truncated feed) must fail with the message the README quotes.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from housing_assets.processes import answers, free_port, start_group, stop_group, wait_for
from housing_assets.serving import scoring_server_command, scoring_server_env
from housing_assets_tests.harness.env import child_env

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
README_URL = "http://127.0.0.1:3000"
SCORING_URL = "http://127.0.0.1:5001"


def bash_commands(text: str) -> list[str]:
    """The commands of the README's bash blocks: continuations joined, comments dropped, a
    quoted argument that spans lines kept whole."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        buffer = ""
        for line in block.splitlines():
            if not buffer and (not line.strip() or line.lstrip().startswith("#")):
                continue
            buffer += line + "\n"
            if buffer.rstrip().endswith("\\") or buffer.count("'") % 2:
                continue
            command = re.sub(r"\\\n\s*", "", buffer).strip()
            commands.append(re.sub(r"\s+#[^'\"]*$", "", command))
            buffer = ""
    return commands


def program(command: str) -> str:
    words = [w for w in shlex.split(command) if not re.match(r"^[A-Z_]+=", w)]
    return Path(words[0]).name


def test_the_parser_reads_the_commands_as_written():
    commands = bash_commands((PROJECT_ROOT / "README.md").read_text())
    programs = [program(c) for c in commands]
    assert {"make", "dagster", "dg", "dagster-webserver", "housing-api", "curl"} <= set(programs)
    materialize = next(c for c in commands if "asset materialize" in c)
    assert "-m housing_assets.definitions" in materialize and "#" not in materialize
    curl = next(c for c in commands if program(c) == "curl" and "graphql" in c)
    assert json.loads(shlex.split(curl)[-1])["variables"]["group"]["groupName"] == "ml_pipeline"


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    home = tmp_path_factory.mktemp("readme")
    # `make run` drains the run queue with its daemon; this test starts none, so runs launched
    # through the API start at once.
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    env = child_env(home)
    return home, env


def as_here(command: str, home: Path, url: str) -> str:
    """The README's command on this test's state, interpreter and webserver."""
    command = command.replace("$PWD/.housing", str(home)).replace(" .housing/", f" {home}/")
    command = command.replace("/tmp/truncated.csv", str(home / "truncated.csv"))
    for copy in ("/tmp/housing-backup", "/tmp/housing-restored"):  # the backup and restore
        command = command.replace(copy, str(home.parent / f"{home.name}-{Path(copy).name}"))
    command = command.replace(".venv/bin/", f"{BIN}/").replace(README_URL, url)
    if program(command) == "housing-api":
        command += f" --url {url}"
    return command


def run(command: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_every_readme_command_runs(state):
    home, env = state
    commands = bash_commands((PROJECT_ROOT / "README.md").read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    webserver = scoring = None
    ran = []
    try:
        for readme_command in commands:
            command = as_here(readme_command, home, url)
            name = program(command)
            if SCORING_URL in command:
                if scoring is None:
                    scoring, scoring_url = start_scoring_server(env, home)
                command = command.replace(SCORING_URL, scoring_url)
            if name == "make":
                target = shlex.split(command)[1]
                result = run(f"make -n {target}", env, timeout=60)
                assert result.returncode == 0, (readme_command, result.stderr)
            elif name == "dagster-webserver":
                check_read_only_webserver(command, env)
            else:
                assert name in {"mkdir", "head", "dagster", "dg", "housing-api", "curl"} or (
                    name == "housing-dev"
                    and any(f"--{a}" in command for a in ("reset-champion", "backup", "restore"))
                ), readme_command
                if url in command and webserver is None:
                    # a writable webserver on the same state for the API commands
                    webserver = start_group(
                        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                         "-w", "workspace.yaml"],
                        {**env, "DAGSTER_HOME": str(home / "dagster")}, cwd=PROJECT_ROOT,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    wait_for(lambda: answers(f"{url}/server_info"), 180, "the webserver")
                result = run(command, env)
                check_outcome(readme_command, result)
            ran.append(name)
    finally:
        for server in (webserver, scoring):
            if server is not None:
                stop_group(server)
    assert ran.count("dagster") >= 4 and ran.count("curl") == 2 and "housing-api" in ran
    assert ran.count("dg") == 3


def check_outcome(readme_command: str, result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    if "truncated.csv" in readme_command and "materialize" in readme_command:
        # the README quotes what this bad feed does
        assert result.returncode != 0, output[-3000:]
        assert (
            "raw_housing failed 1 blocking check(s), so the new table was not published and the "
            "previous one stays: enough_rows (observed 300, threshold 1000; 300 rows)"
        ) in output
        return
    assert result.returncode == 0, (readme_command, output[-3000:])
    if readme_command.startswith("curl") and SCORING_URL in readme_command:
        (priced,) = json.loads(result.stdout)["predictions"]
        assert 50_000 < priced["low"] < priced["estimate"] < priced["high"], priced
    elif readme_command.startswith("curl"):
        nodes = json.loads(result.stdout)["data"]["assetNodes"]
        assert sorted(n["assetKey"]["path"][0] for n in nodes) == [
            "boosted_price_model", "linear_price_model",
        ]  # fmt: skip
        entries = nodes[0]["assetMaterializations"][0]["metadataEntries"]
        assert any(e["label"] == "test_rmse" and e["floatValue"] > 0 for e in entries)
    elif "housing-api value" in readme_command:
        # the README shows this house's valuation: its reasons and comps come with it
        assert "House 903427090 (OldTown)" in result.stdout, output[-2000:]
        assert "comparable sales imply $" in result.stdout
        assert "all other features" in result.stdout
    elif "housing-api checks" in readme_command:
        checks = json.loads(result.stdout)
        failed = [c for c in checks if c["check"] == "enough_rows"]
        assert failed and failed[0]["passed"] is False, result.stdout[:2000]
        assert failed[0]["metadata"]["observed"] == 300
    elif "--backup" in readme_command or "--restore" in readme_command:
        assert result.stdout.startswith("Copied "), output[-2000:]
        copied = Path(result.stdout.split(" to ")[-1].strip())
        assert (copied / "mlflow.db").exists() and (copied / "warehouse.duckdb").exists()
    elif "--reset-champion" in readme_command:
        # the README's commands before it have made a champion; the tuning run after it makes one
        assert "Cleared ames-sale-price@champion (was v" in result.stdout, output[-2000:]
    elif "housing-api launch" in readme_command:
        assert json.loads(result.stdout)["status"] == "SUCCESS"


def check_read_only_webserver(command: str, env: dict) -> None:
    port = free_port()
    command = re.sub(r"-p \d+", f"-p {port}", command)
    process = start_group(
        ["bash", "-c", command], env, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/server_info"), 180, "read-only server")
        refused = run(f"{BIN}/housing-api launch --url http://127.0.0.1:{port}", env, timeout=120)
        assert refused.returncode == 1 and "read-only" in refused.stderr, refused.stderr
    finally:
        stop_group(process)


def start_scoring_server(env: dict, home: Path):
    port = free_port()
    server_env = scoring_server_env({**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db"})
    process = start_group(
        scoring_server_command(port=port), server_env, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(f"{url}/ping"), 180, "the scoring server", interval=0.5)
    return process, url
