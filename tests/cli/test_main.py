import subprocess
import sys

from rlwhf import __version__
from rlwhf.cli.main import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_does_not_import_torch():
    code = "import sys; from rlwhf.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_console_script_runs():
    out = subprocess.run(["rlwhf", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for group in ("data", "reward", "plan", "train", "evaluate", "launch", "doctor", "model"):
        assert group in out.stdout
