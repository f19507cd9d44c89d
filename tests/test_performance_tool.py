"""tools/performance.py: a benchmark's output recorded in docs/performance.md, dated, with the
machine, replacing its earlier block; a failing benchmark changes nothing."""

import datetime
import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("performance", ROOT / "tools" / "performance.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_benchmark_is_recorded_dated_with_its_machine_and_replaced_when_run_again(tmp_path):
    tool = _tool()
    doc = tmp_path / "performance.md"
    doc.write_text("# measured\n\nprose by hand\n", encoding="utf-8")
    bench = tmp_path / "bench_fake.py"
    bench.write_text("import sys; print('ratio', sys.argv[1:])\n", encoding="utf-8")
    assert tool.main(["--doc", str(doc), str(bench), "--quick"]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# measured\n\nprose by hand\n")
    assert f"Measured {datetime.date.today().isoformat()} on " in text
    assert f"{os.cpu_count()} cores" in text and "NumPy" in text
    assert "ratio ['--quick']" in text
    bench.write_text("print('ratio 2.0')\n", encoding="utf-8")
    assert tool.main(["--doc", str(doc), str(bench), "--quick"]) == 0
    again = doc.read_text(encoding="utf-8")
    assert again.count("<!-- measured:") == 1 and "ratio 2.0" in again
    assert "ratio ['--quick']" not in again and again.startswith("# measured\n\nprose by hand\n")


def test_a_failing_benchmark_leaves_the_document_as_it_was(tmp_path):
    tool = _tool()
    doc = tmp_path / "performance.md"
    doc.write_text("# measured\n", encoding="utf-8")
    bench = tmp_path / "bench_broken.py"
    bench.write_text("raise SystemExit(3)\n", encoding="utf-8")
    assert tool.main(["--doc", str(doc), str(bench)]) == 1
    assert doc.read_text(encoding="utf-8") == "# measured\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench_broken.py", "performance.md"]
