"""`swarm run --dry-run`: the cost forecast follows the size of each agent's scope."""

from __future__ import annotations

import re

from conftest import swarm, write_plan


def _forecast(out: str) -> tuple[int, int, float]:
    scope = re.search(r"scopes: (\d+) file\(s\), ([\d,]+) bytes", out)
    cost = re.search(r"([\d,]+) input and .* about \$([\d.]+)", out)
    assert scope and cost, out
    return int(scope.group(2).replace(",", "")), int(cost.group(1).replace(",", "")), float(cost.group(2))


def test_a_larger_scope_forecasts_more_tokens_and_cost(make_repo, tmp_path):
    repo = make_repo({"big/data.py": "x = 1\n" * 40_000, "small/a.py": "y = 2\n",
                      **{f"many/m{i}.py": f"z = {i}\n" for i in range(12)}})
    results = {}
    for name, files in (("small", ["small/*.py"]), ("big", ["big/**"]), ("many", ["many/*.py"])):
        plan = write_plan(tmp_path / f"{name}.json",
                          {"task": "t", "subtasks": [{"id": "a", "instructions": "edit", "files": files}]})
        proc = swarm(repo, "run", "--plan", str(plan), "--dry-run")
        assert proc.returncode == 0, proc.stderr
        results[name] = _forecast(proc.stdout)
    (small_bytes, small_in, small_cost), (big_bytes, big_in, big_cost) = results["small"], results["big"]
    assert small_bytes == 6 and big_bytes == 240_000
    assert big_in > 3 * small_in and big_cost > small_cost
    # More files, more turns: a dozen small files forecast more than one small file.
    assert results["many"][1] > small_in


def test_an_each_plans_shared_contract_shows_its_lines_not_a_literal_newline(make_repo):
    repo = make_repo({f"m{i}.py": f"A = {i}\n" for i in range(4)})
    out = swarm(repo, "run", "Add a docstring", "--each", "*.py", "--chunks", "2", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("shared contract: "))
    assert "Add a docstring" in lines[first] and "\\n" not in out.stdout
    assert lines[first + 1].startswith("  │ Stay consistent with the siblings")
