"""The README's numbers about bf16, the fused output and torch.compile are the committed benchmark results'."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _speed_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme[readme.index("## Speed") : readme.index("## Layout")]


def test_readme_quotes_the_equivalence_report() -> None:
    report = (ROOT / "benchmarks" / "precision_equivalence_results.md").read_text(encoding="utf-8")
    text = " ".join(_speed_section().split())
    median, p90 = re.search(r"median ([\d.]+), 90th percentile ([\d.]+)", report).groups()
    assert f"median of {median} seed-to-seed standard deviations (90th percentile {p90})" in text
    beyond, cells = re.search(
        r"cells \(model x metric\): (\d+); \|z\| > t\(0.975, 4\): (\d+)", report
    ).groups()[::-1]
    assert f"{beyond} cell of {cells} passes" in text or f"{beyond} cells of {cells} pass" in text
    first = re.search(r"RAE_GP PIQ \(([+-][\d.]+), z", report).group(1)
    again = re.search(r"replication of RAE_GP PIQ on seeds [\d, ]+: ([+-][\d.]+) seed SDs", report).group(1)
    assert f"RAE-GP's PIQ, {first}" in text and f"three fresh seeds ({again})" in text
    ratio = re.search(r"ratio ([\d.]+)x", report).group(1)
    assert f"{ratio}x overall" in text
    assert "**bf16 is equivalent to float32 on this evidence.**" in report
    assert "**bf16 is equivalent to float32 on the evidence**" in text


def test_readme_quotes_the_compile_results() -> None:
    results = (ROOT / "benchmarks" / "compile_speed_results.md").read_text(encoding="utf-8")
    speedups = [float(x) for x in re.findall(r"\| ([\d.]+)x \|", results)]
    low, high = re.search(
        r"run ([\d.]+)–([\d.]+)x the eager speed", " ".join(_speed_section().split())
    ).groups()
    assert (float(low), float(high)) == (min(speedups), max(speedups))


def _total(section: str) -> int:
    return round(float(re.search(r"total wall time ([\d.]+) s", section).group(1)))


def _min_s(seconds: int) -> str:
    return "{} min {} s".format(*divmod(seconds, 60))


def _section(log: str, heading: str) -> str:
    return log.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]


def test_readme_quick_profile_times_are_the_logged_ones() -> None:
    log = (ROOT / "benchmarks" / "quick_profile_timing.md").read_text(encoding="utf-8")
    first, second = (round(float(w)) for w in re.findall(r"wall=([\d.]+) s", log)[:2])
    avx2 = _section(log, "AMD EPYC, AVX2 only")
    xeon = [_total(part) for part in _section(log, "Xeon again").split("\n### ")[1:]]
    now = [_total(part) for part in _section(log, "AMD EPYC (family 26").split("\n### ")[1:]]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    before, after, fused, again = now
    assert f"**{_min_s(after)}** ({after} s: 22 runs + the evaluation notebook, commit e51ccc8)" in readme
    assert f"against {before} s and {again} s for commit 71665da run before and after it" in readme
    assert f"**{_min_s(fused)}** ({fused} s, its results in" in readme
    assert after <= 480  # the target: 8 minutes, numbers unchanged
    later = [
        _total(part)
        for part in _section(
            log, "AMD EPYC (family 26, AVX-512, AVX512-BF16, no AMX), 2026-12-02, a later"
        ).split("\n### ")[1:]
    ]
    fp32_later, every = later
    assert (
        f"with every fusion (`--fuse-output --fuse-input --fused-adam`, equivalent too) it took **{_min_s(every)}** ({every} s) against {_min_s(fp32_later)} ({fp32_later} s) in float32"
        in readme
    )
    third_xeon = [
        _total(part) for part in _section(log, "Xeon with AMX-BF16 (2 cores), 2026-12-02").split("\n### ")[1:]
    ]
    x_fp32, x_fastest = third_xeon
    assert (
        f"took **{_min_s(x_fastest)}** ({x_fastest} s) against {_min_s(x_fp32)} ({x_fp32} s) in float32 run "
        "just before it (2026-12-02)" in readme
    )
    x_before, x_after, x_bf16 = xeon
    assert f"took {_min_s(x_after)} ({x_after} s, commit 06c7f31; {x_before} s for commit 49cc1ed" in readme
    assert f"{_min_s(x_bf16)} ({x_bf16} s) with `--precision bf16`" in readme
    assert f"{_min_s(first)} ({first} s, commit ae68442) and {_min_s(second)} ({second} s" in readme
    minutes, seconds = re.search(r"real\s+(\d+)m([\d.]+)s", avx2).groups()
    assert f"took {minutes} min {round(float(seconds))} s ({_total(avx2)} s, 2026-12-02" in readme


def test_readme_speed_numbers_are_the_benchmarks_printed_ones() -> None:
    """The Xeon block in the README is the results file's, and the AVX2 ratios it quotes too."""
    results = (ROOT / "benchmarks" / "training_speed_results.md").read_text(encoding="utf-8")
    section = _speed_section()
    block = section.split("```\n", 2)[1]
    assert all(line in results for line in block.splitlines() if line.startswith("("))
    epyc = results.split("## 2-core AMD EPYC with AVX2 only", 1)[1]
    ratios = re.findall(r"pythae (?:TrainingPipeline|sequential): ([\d.]+)x", epyc)
    text = " ".join(section.split())
    fp32_run, bf16_run, fp32_batch, bf16_batch = ratios
    assert f"float32 is {fp32_run}x pythae's pipeline per run and {fp32_batch}x as a batch" in text
    assert f"bf16 autocast runs at {bf16_run}x per run and {bf16_batch}x as a batch" in text


def _quoted_study(report_name: str) -> tuple[str, str, dict[str, float]]:
    """(report, the README's Speed text, MIWAE's and PIWAE's training ratios); checks the summary
    sentence both studies' README paragraphs share."""
    report = (ROOT / "benchmarks" / report_name).read_text(encoding="utf-8")
    text = " ".join(_speed_section().split())
    median, p90 = re.search(r"median ([\d.]+), 90th percentile ([\d.]+)", report).groups()
    cells, beyond = re.search(
        r"cells \(model x metric\): (\d+); \|z\| > t\(0.975, 4\): (\d+)", report
    ).groups()
    assert f"median {median} seed SDs (90th percentile {p90}), {beyond} of {cells} cells past" in text
    assert "more than 2 seed SDs apart: none" in report and "no headline cell beyond 2 seed SDs" in text
    ratio = {
        m: float(r) for m, r in re.findall(r"^\| (MIWAE|PIWAE) +\|[^|]+\|[^|]+\| +([\d.]+) \|$", report, re.M)
    }
    return report, text, ratio


def test_readme_quotes_the_fused_output_report() -> None:
    report, text, ratio = _quoted_study("fused_output_equivalence_results.md")
    assert "**fused is equivalent to float32 on this evidence.**" in report
    assert "**The fused output is equivalent to float32 on the evidence**" in text
    assert f"MIWAE and PIWAE trained {ratio['MIWAE']:.1f}x and {ratio['PIWAE']:.1f}x faster" in text


def test_readme_quotes_the_all_fused_report() -> None:
    report, text, ratio = _quoted_study("all_fused_equivalence_results.md")
    assert "**all_fused is equivalent to float32 on this evidence.**" in report
    assert "**Every fusion at once is equivalent to float32 on the evidence**" in text
    assert f"{ratio['MIWAE']:.1f}x and {ratio['PIWAE']:.1f}x with every fusion" in text


def _batch_ratios(output: str, options: tuple[str, ...]) -> list[str]:
    return [
        re.search(rf"ours {re.escape(o)} \([^)]*\) / pythae sequential: ([\d.]+)x", output).group(1)
        for o in options
    ]


def test_readme_batch_ratios_are_the_printed_ones() -> None:
    block = _speed_section().split("```\n", 2)[1]
    fp32, bf16, every, both = _batch_ratios(block, ("fp32", "bf16", "all_fused", "bf16+all_fused"))
    last = block.strip().splitlines()[-1]
    assert last.startswith("(b) aggregate throughput, fastest option shown equivalent (bf16+all_fused)")
    assert last.endswith(f": {both}x")
    text = " ".join(_speed_section().split())
    assert (
        f"reaches the 2.5x we aimed for with bf16 and every fusion: {both}x, shown equivalent to float32 "
        f"on this CPU (below), against {every}x with every fusion in float32, {bf16}x with bf16 alone and "
        f"{fp32}x in float32 alone" in text
    )
    assert float(both) >= 2.5  # the sentence says it reaches the target: true only while it does
    share = {
        d: sorted(int(x) for x in re.findall(rf"vs a {d} matmul's [^:]+: (\d+)% of it", block))
        for d in ("bf16", "fp32")
    }
    assert f"reaches {share['bf16'][0]}–{share['bf16'][-1]}% of a large bf16 matmul's speed" in text
    assert f"and {share['fp32'][0]}–{share['fp32'][-1]}% of a float32 one's" in text


def test_readme_quotes_the_earlier_batch_ratios() -> None:
    results = (ROOT / "benchmarks" / "training_speed_results.md").read_text(encoding="utf-8")
    runs = results.split("\n## 2-core AMD EPYC (family 26)")[1:4]  # newest first
    ratio = [dict(re.findall(r"ours (\w+) \([^)]*\) / pythae sequential: ([\d.]+)x", run)) for run in runs]
    text = " ".join(_speed_section().split())
    third = ratio[0]
    assert (
        f"ratio fell short: {third['all_fused']}x with every fusion, {third['fused']}x with the fused output "
        f"alone, from {third['fp32']}x in float32" in text
    )
    assert float(third["all_fused"]) < 2.5
    assert (
        f"the fused output {ratio[2]['fused']}x, then {ratio[1]['fused']}x and every fusion "
        f"{ratio[1]['all_fused']}x" in text
    )
    fp32_elsewhere = [
        float(x)
        for x in re.findall(
            r"ours fp32 \([^)]*\) / pythae sequential: ([\d.]+)x", results.split("\n## ", 2)[2]
        )
    ] + [float(x) for x in re.findall(r"ours fp32 / pythae sequential: ([\d.]+)x", results)]
    assert f"({min(fp32_elsewhere):.2f}–{max(fp32_elsewhere):.2f}x on the other CPUs below" in text


def test_readme_step_ratios_are_the_recorded_ones() -> None:
    results = (ROOT / "benchmarks" / "step_breakdown_results.md").read_text(encoding="utf-8")
    ratios = sorted(
        float(r) for r in re.findall(r"unfused [\d.]+ ms, fused(?: output)? [\d.]+ ms \(([\d.]+)x\)", results)
    )
    text = " ".join(_speed_section().split())
    assert f"runs {ratios[0]:.2f}x and {ratios[-1]:.2f}x faster than the unfused one" in text
    every = re.search(r"every fusion \(all_fused[^)]*\) [\d.]+ ms \(([\d.]+)x\)", results).group(1)
    assert f"a step with every fusion runs {every}x the unfused one's speed in the newest run" in text
    fused, single = (
        float(x)
        for x in re.findall(r"Adam step over the VAE's parameters, [^:]+: ([\d.]+) ms", results)[:2][::-1]
    )
    low, high = (int(x) for x in re.search(r"Adam's fused CPU kernel is (\d)–(\d)x faster", text).groups())
    assert low <= single / fused <= high + 1


def _piq_means(rows: list[dict], model: str, option: str, on_xeon: bool) -> float:
    """3-seed mean PIQ of the study's seeds; the Xeon rows of this study record their CPU, the
    bf16 study's rows (also a Xeon) none."""
    values = [
        r["metrics"]["PIQ"]
        for r in rows
        if r["model"] == model
        and r.get("option", r["precision"]) == option
        and (r.get("cpu", "").startswith("Intel") if on_xeon else "cpu" not in r)
        and r["seed"] in (42, 123, 456)
    ]
    assert len(values) == 3
    return sum(values) / 3


def test_readme_quotes_the_bf16_all_fused_report() -> None:
    report = (ROOT / "benchmarks" / "bf16_all_fused_equivalence_results.md").read_text(encoding="utf-8")
    text = " ".join(_speed_section().split())
    assert "**bf16+all_fused is equivalent to float32 on this evidence.**" in report
    assert "**bf16 with every fusion is equivalent to float32 on the evidence**" in text
    median, p90 = re.search(r"median ([\d.]+), 90th percentile ([\d.]+)", report).groups()
    cells, beyond = re.search(
        r"cells \(model x metric\): (\d+); \|z\| > t\(0.975, 4\): (\d+)", report
    ).groups()
    assert f"median {median} seed SDs (90th percentile {p90}), {beyond} of {cells} cells past" in text
    first = dict(re.findall(r"(\w+) PIQ \(([+-][\d.]+), z", report))
    again = dict(re.findall(r"replication of (\w+) PIQ on seeds [\d, ]+: ([+-][\d.]+) seed SDs", report))
    assert set(first) == set(again) == {"AE", "RAE_GP"}
    assert f"AE's PIQ ({first['AE']}) and RAE-GP's ({first['RAE_GP']})" in text
    assert f"three fresh seeds ({again['AE']} and {again['RAE_GP']})" in text
    total = re.search(r"ratio ([\d.]+)x", report).group(1)
    ratio = dict(re.findall(r"^\| (MIWAE|PIWAE) +\|[^|]+\|[^|]+\| +([\d.]+) \|$", report, re.M))
    assert (
        f"Training took {total}x less time overall there (MIWAE and PIWAE {float(ratio['MIWAE']):.1f}x"
        in text
    )


def test_readme_bf16_piq_pattern_is_the_runs() -> None:
    """The sentence on bf16's PIQ shift of the deterministic autoencoders, from both bf16 studies."""
    import json

    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "precision_equivalence_runs.jsonl").open()]
    text = " ".join(_speed_section().split())
    shifted = ("AE", "RAE_L2", "RAE_GP")
    relative = [
        _piq_means(rows, m, option, xeon) / _piq_means(rows, m, "fp32", xeon) - 1
        for m in shifted
        for option, xeon in (("bf16", False), ("bf16+all_fused", True))
    ]
    assert min(relative) > 0  # "raises", in both studies
    assert f"by {100 * min(relative):.1f}–{100 * max(relative):.1f}% of their float32 means" in text
    sds = [
        float(re.search(rf"^\| {m} +\|" + r"[^|]+\|" * 6 + r" +([-\d.]+) \|", report, re.M).group(1))
        for m in shifted
        for report in (
            (ROOT / "benchmarks" / name).read_text(encoding="utf-8")
            for name in ("precision_equivalence_results.md", "bf16_all_fused_equivalence_results.md")
        )
    ]
    assert f"(+{min(sds):.1f} to +{max(sds):.1f} seed SDs;" in text
    fp32 = [_piq_means(rows, m, "fp32", True) for m in ("AE", "Adversarial_AE", "RAE_GP", "RAE_L2")]
    assert (
        f"lie within {100 * (max(fp32) / min(fp32) - 1):.1f}% of each other ({min(fp32):.5f}–{max(fp32):.5f})"
        in text
    )


def test_readme_memory_peaks_are_the_latest_measurement_of_every_model() -> None:
    """The newest section of evaluation_memory_results.md measures all 22 models, each under the
    1.5 GB target, and the README quotes its range."""
    from shared.registry import MODEL_NAMES

    results = (ROOT / "benchmarks" / "evaluation_memory_results.md").read_text(encoding="utf-8")
    newest = results.split("\n## ")[1]
    peaks = {m: float(gb) for m, gb in re.findall(r"^\| (\w+) \| ([\d.]+) \| \d+ \| yes \|$", newest, re.M)}
    assert sorted(peaks) == sorted(MODEL_NAMES) and max(peaks.values()) < 1.5
    quoted = f"under 1.5 GB for every model ({min(peaks.values()):.2f}–{max(peaks.values()):.2f} GB"
    assert quoted in " ".join(_speed_section().split())
