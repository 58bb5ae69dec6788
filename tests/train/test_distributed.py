import subprocess
import sys

from click.testing import CliRunner

from meddenoise.checkpoint import load_checkpoint
from meddenoise.cli import main


def _config_file(tiny_config, tmp_path):
    lines = []
    for key, value in tiny_config.to_dict().items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, dict):
            inner = ", ".join(f"{k} = {v}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        elif isinstance(value, list):
            items = ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value)
            lines.append(f"{key} = [{items}]")
        else:
            lines.append(f"{key} = {value}")
    path = tmp_path / "train.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_gloo_processes_train_and_only_rank_0_writes(tiny_config, tmp_path):
    config = _config_file(tiny_config, tmp_path)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "meddenoise.cli",
        "train",
        "--config",
        str(config),
        "--out",
        str(out),
        "--distributed",
        "--threads",
        "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained to step 4") == 1  # rank 0 alone reports
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.training["processes"] == 2
    assert ckpt.training["steps"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "log.jsonl"]


def test_distributed_without_torchrun_is_a_usage_error(tiny_config, tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    config = _config_file(tiny_config, tmp_path)
    result = CliRunner().invoke(
        main, ["train", "--config", str(config), "--out", str(tmp_path / "r"), "--distributed"]
    )
    assert result.exit_code == 2
    assert "torchrun" in result.output
