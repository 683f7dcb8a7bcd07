"""The launch's stages: each takes a small typed input and returns a typed result, calling the same library
functions as the `rlwhf` command that does that step by hand (`rlwhf data synth|gate|preprocess|pairs`,
`rlwhf reward build`, `rlwhf model tiny`, `rlwhf plan` + `--validate`, `rlwhf evaluate`, `rlwhf train`).

A stage's input holds everything its output depends on (its own settings, the paths it reads and a digest
or resume key of each upstream result it reads), so `rlwhf.launch` redoes a stage exactly when that input
changes. Fields marked `KEY_EXEMPT` steer how a stage runs, not what it produces.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from rlwhf.data.io import count_rows
from rlwhf.errors import RlwhfError
from rlwhf.policy.tiny import TinyPolicyConfig
from rlwhf.reward.teacher_reward import TeacherOptions

if TYPE_CHECKING:
    from rlwhf.plan import PlanConfig
    from rlwhf.preset import Preset

TINY_DATA_ROWS = 50  # below this many training prompts the run is a smoke test, not a result
KEY_EXEMPT = {"key": False}  # field metadata: not part of the stage's resume key


def resume_key(inputs) -> str:
    """The digest of a stage input's fields (those not marked KEY_EXEMPT): equal keys, equal results."""
    values = {f.name: getattr(inputs, f.name) for f in fields(inputs) if f.metadata.get("key", True)}
    blob = json.dumps(values, sort_keys=True, default=lambda v: asdict(v) if hasattr(v, "__dataclass_fields__")
                      else str(v))
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: str | Path | None) -> str | None:
    """The content digest of a file; None for no path or a folder (a saved dataset)."""
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def warn(warnings: list[str], msg: str) -> None:
    """A warning for the report, shown as it happens."""
    warnings.append(msg)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- 1. data
@dataclass
class DataInputs:
    output_dir: str  # DIR/data
    dataset_path: str | None = None  # graded logs; None = the built-in corpus
    dataset_sha256: str | None = None  # of the logs, when they are one file (edited logs are read again)
    top_up_synth: bool = False
    algo: str = "grpo"  # dpo also writes preference pairs
    seed: int = 42
    eval_prompts: str | None = None  # held-out prompts file; None = the built-in held-out split
    eval_prompts_sha256: str | None = None
    eval_limit: int | None = None
    # also write CHORD's expert rows (rlwhf.train.chord): "given" (--chord-mu: logs without one are an error)
    # or "preset" (the preset's default: logs without one train plain GRPO, with a warning)
    chord: str | None = None


@dataclass
class DataResult:
    logs: str
    clean: str
    gate: dict
    train_rows: str  # graded rows the reward learns from and DPO pairs come from
    grpo_dataset: str
    train_prompts: int
    warnings: list[str]
    heldout_prompts: str
    heldout_n: int
    dpo_dataset: str | None = None
    dpo_pairs: int | None = None
    sha256: dict[str, str] = field(default_factory=dict)  # path -> digest of each file a later stage reads
    chord_dataset: str | None = None
    chord_rows: int | None = None
    chord_language: str | None = None  # of the expert rows' prompts (English frames only for English ones)


def prepare_data(inputs: DataInputs) -> DataResult:
    """The logs (or the built-in corpus) through the gate, then into ms-swift's row format; the held-out
    prompts beside them."""
    from rlwhf.data import GateConfig, PairsConfig, PreprocessConfig, gate_file, make_pairs, preprocess
    from rlwhf.data.gate import exit_code
    from rlwhf.data.synth import SynthConfig, write_synth

    data_dir = Path(inputs.output_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = inputs.dataset_path
    raw = data_dir / "logs.jsonl"
    warnings: list[str] = []
    if source:
        summary = preprocess(PreprocessConfig(input=[source], output=str(raw), format="rlwhf"))
        if count_rows(raw) == 0:
            raise RlwhfError(f"{source}: no usable rows (preprocess rejected every row; "
                             "the reasons, by line, are above)")
        if summary.get("invalid"):
            warn(warnings, f"{summary['invalid']} of {summary['read']} rows of {source} could not "
                           f"be read as honesty tuples and were left out (reasons: {summary.get('reasons')}; "
                           "lines above)")
    else:
        write_synth(SynthConfig(output=str(raw), seed=inputs.seed, split="train"))
    clean, quarantine = data_dir / "logs.clean.jsonl", data_dir / "logs.quarantine.jsonl"
    gate = gate_file(GateConfig(file=str(raw), clean=str(clean), quarantine=str(quarantine),
                                report=str(data_dir / "gate_report.json")))
    if exit_code(gate) == 2:
        raise RlwhfError(f"{gate['file']}: {gate['error']} (report: {gate['report']})")
    gate = {k: v for k, v in gate.items() if k != "report"}  # as written to gate_report.json
    if gate["valid"] == 0:
        raise RlwhfError(f"{source or raw}: no valid rows passed the gate (see {quarantine})")
    if gate["invalid"]:
        warn(warnings, f"{gate['invalid']} of {gate['total']} rows failed the gate and were left out "
                       f"(reasons: {gate['reasons']}; rows in {quarantine})")
    train_rows = clean
    if source and inputs.top_up_synth:
        synth = data_dir / "synth_train.jsonl"
        write_synth(SynthConfig(output=str(synth), seed=inputs.seed, split="train"))
        train_rows = data_dir / "logs.topped_up.jsonl"
        with open(train_rows, "wb") as dst:
            for src in (clean, synth):
                dst.write(src.read_bytes())
    grpo = data_dir / "train.swift-grpo.jsonl"
    preprocess(PreprocessConfig(input=[str(train_rows)], output=str(grpo), format="swift-grpo"))
    n_prompts = count_rows(grpo)
    if n_prompts < TINY_DATA_ROWS:
        warn(warnings, f"only {n_prompts} training prompts: this run is a smoke test, not a result"
                       + ("" if inputs.top_up_synth else "; add --top-up-synth to add the built-in prompts"))
    dpo_dataset = dpo_pairs = None
    if inputs.algo == "dpo":
        dpo_dataset = data_dir / "train.dpo.jsonl"
        make_pairs(PairsConfig(input=str(train_rows), output=str(dpo_dataset)))
        dpo_pairs = count_rows(dpo_dataset)
        if not dpo_pairs:
            raise RlwhfError(f"{source or raw}: no DPO pairs (each prompt needs two answers whose "
                             "grades differ by at least the minimum margin)")
    chord_dataset = chord_rows = chord_language = None
    if inputs.chord:
        from rlwhf.train.chord import NO_EXPERT_ROW, write_expert_rows

        chord_dataset = data_dir / "chord_sft.jsonl"
        try:
            chord_rows, chord_language = write_expert_rows(chord_dataset, inputs.seed, source=source,
                                                           logs=clean if source else None)
        except RlwhfError:
            if inputs.chord == "given":
                raise
            chord_dataset, chord_rows = None, 0
            warn(warnings, f"{source}: {NO_EXPERT_ROW}, so no expert rows for CHORD (the preset's "
                           "launch.chord_mu): this run trains plain GRPO")
    prompts = data_dir / "heldout_prompts.jsonl"
    if inputs.eval_prompts:
        shutil.copyfile(inputs.eval_prompts, prompts)
    else:
        write_synth(SynthConfig(output=str(prompts), seed=inputs.seed, split="heldout", prompts_only=True))
    if inputs.eval_limit:
        subsample(prompts, inputs.eval_limit, inputs.seed)
    made = [p for p in (train_rows, grpo, dpo_dataset, chord_dataset, prompts) if p]
    return DataResult(logs=str(raw), clean=str(clean), gate=gate, train_rows=str(train_rows),
                      grpo_dataset=str(grpo), train_prompts=n_prompts, warnings=warnings,
                      heldout_prompts=str(prompts), heldout_n=count_rows(prompts),
                      dpo_dataset=dpo_dataset and str(dpo_dataset), dpo_pairs=dpo_pairs,
                      sha256={str(p): file_sha256(p) for p in made},
                      chord_dataset=chord_dataset and str(chord_dataset), chord_rows=chord_rows,
                      chord_language=chord_language)


def subsample(path: Path, limit: int, seed: int) -> None:
    """Keep `limit` rows, the same ones every run, balanced over answerable/unanswerable as given."""
    import random

    rows = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    if len(rows) <= limit:
        return
    rng = random.Random(seed)
    keep = sorted(rng.sample(range(len(rows)), limit))
    path.write_bytes(b"".join(rows[i] for i in keep))


# ---------------------------------------------------------------- 2. reward
@dataclass
class RewardInputs:
    output_dir: str  # DIR/reward
    train_rows: str
    train_rows_sha256: str


@dataclass
class RewardResult:
    artifact: str
    metadata: dict


def build_reward(inputs: RewardInputs) -> RewardResult:
    """The portable reward artifact, learned from the clean logs (`rlwhf reward build`)."""
    from rlwhf.reward.learned import build

    build(inputs.train_rows, inputs.output_dir)
    out = Path(inputs.output_dir)
    return RewardResult(artifact=str(out / "honesty_reward_model.json"),
                        metadata=json.loads((out / "metadata.json").read_text()))


# ---------------------------------------------------------------- 3. policy
@dataclass
class PolicyInputs:
    output_dir: str  # DIR/policy, for the embedded policy
    model: str | None = None  # a local folder or hub id; None = the embedded tiny policy
    seed: int = 42
    sft_steps: int | None = None  # the embedded policy's SFT steps (None: its default)
    pack: bool = TinyPolicyConfig.pack  # the warm start's batches packed (False: `rlwhf model tiny --no-pack`)


@dataclass
class PolicyResult:
    model: str
    embedded: bool


def make_policy(inputs: PolicyInputs) -> PolicyResult:
    """The given model, or the embedded tiny one (`rlwhf model tiny`, cached by content hash)."""
    if inputs.model:
        return PolicyResult(model=inputs.model, embedded=False)
    from rlwhf.policy.tiny import build_tiny

    cfg = TinyPolicyConfig(output=inputs.output_dir, seed=inputs.seed, pack=inputs.pack)
    if inputs.sft_steps is not None:
        cfg.sft_steps = inputs.sft_steps
    info = build_tiny(inputs.output_dir, cfg)
    how = "from the cache" if info["cached"] else f"built ({info['sft']['steps']} SFT steps)"
    print(f"{info['output_dir']}: tiny policy, {info['parameters']:,} parameters, {how} "
          f"(cache key {info['cache_key']})", file=sys.stderr, flush=True)
    return PolicyResult(model=inputs.output_dir, embedded=True)


# ---------------------------------------------------------------- 4. expert rows (CHORD)
@dataclass
class ExpertInputs:
    output_dir: str  # DIR/expert
    chord_dataset: str | None  # the data stage's expert rows (None: no CHORD)
    chord_dataset_sha256: str | None
    chord_rows: int | None
    chord_language: str | None
    logs: str | None  # the gate-clean logs they came from; None: the built-in corpus
    model: str
    model_key: str
    seed: int


@dataclass
class ExpertResult:
    chord_dataset: str | None
    chord_dataset_sha256: str | None
    chord_rows: int | None
    chord_language: str | None
    fit: dict | None = None  # what fitting the logs' rows to the policy changed (`rlwhf.train.chord.fit_to_policy`)


def fit_expert_rows(inputs: ExpertInputs) -> ExpertResult:
    """CHORD's expert rows from graded logs, fitted to the policy: the right answers it can give and the
    honest abstentions in its own words (`rlwhf.train.chord.fit_to_policy`). The built-in corpus's rows
    are made for the embedded policy already (its unknown sums are left out by construction): as they are."""
    as_given = ExpertResult(inputs.chord_dataset, inputs.chord_dataset_sha256, inputs.chord_rows,
                            inputs.chord_language)
    if not inputs.chord_dataset or not inputs.logs:
        return as_given
    from rlwhf.train.chord import write_fitted_expert_rows

    out = Path(inputs.output_dir) / "chord_sft.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, language, fit = write_fitted_expert_rows(out, inputs.seed, inputs.logs, inputs.model)
    if not rows:
        print(f"expert rows: the policy gives none of the logs' right answers and there is no unanswerable row: "
              f"CHORD keeps the logs' rows as they are ({fit})", file=sys.stderr, flush=True)
        return ExpertResult(**{**asdict(as_given), "fit": fit})
    print(f"expert rows fitted to the policy: {rows} chat rows ({fit})", file=sys.stderr, flush=True)
    return ExpertResult(str(out), file_sha256(out), rows, language, fit)


# ---------------------------------------------------------------- 5. plan
@dataclass
class PlanInputs:
    output: str  # DIR/plan.json
    train_dir: str  # DIR/train: ms-swift's output_dir
    algo: str
    profile: str  # auto = what `rlwhf doctor` picks
    max_steps: int | None  # None = the preset's, capped on a CPU to fit max_minutes
    max_minutes: float | None  # read only when max_steps is None
    seed: int
    teacher: TeacherOptions  # GRPO only
    model: str
    policy_key: str
    dataset: str
    dataset_sha256: str
    train_prompts: int
    reward_artifact: str | None  # GRPO only
    reward_key: str | None
    preset_sha256: str
    reward_shaping: str | None = None  # $RLWHF_REWARD_SHAPING as set: the plan pins it, so it keys the plan
    chord_mu: float | None = None  # CHORD's SFT share of the loss; None: plain GRPO
    chord_dataset: str | None = None
    chord_dataset_sha256: str | None = None
    chord_rows: int | None = None  # the data stage's count of expert rows (CHORD's SFT batch is at most this)


def teacher_options(cfg: TeacherOptions) -> TeacherOptions:
    """The teacher flags of a config that has them (the launch's), alone: what the plan stage passes on."""
    return TeacherOptions(**{f.name: getattr(cfg, f.name) for f in fields(TeacherOptions)})


@dataclass
class PlanResult:
    plan: str
    profile: str
    why: str
    max_steps: int
    doctor: dict


def plan_config(inputs: PlanInputs, profile: str, preset: Preset) -> tuple[PlanConfig, int]:
    """The `rlwhf plan` config for this launch and its step count."""
    from rlwhf.plan import PlanConfig

    steps, overrides = preset_numbers(preset, inputs.algo, profile, inputs.max_steps, inputs.max_minutes,
                                      inputs.train_prompts)
    teacher = asdict(inputs.teacher) if inputs.algo == "grpo" else {}
    if inputs.chord_mu is not None:
        from rlwhf.train.chord import plan_overrides

        overrides += plan_overrides(inputs.chord_dataset, inputs.chord_mu, steps, inputs.chord_rows)
    cfg = PlanConfig(**teacher, algo=inputs.algo, profile=profile, model=inputs.model, dataset=inputs.dataset,
                     output=inputs.output, output_dir=inputs.train_dir,
                     reward_artifact=inputs.reward_artifact,
                     overrides=[f"max_steps={steps}", f"seed={inputs.seed}", *overrides])
    return cfg, steps


def preset_numbers(preset: Preset, algo: str, profile: str, max_steps: int | None, max_minutes: float | None,
                   train_prompts: int) -> tuple[int, list[str]]:
    """(steps, extra overrides): every number the launch takes from the preset, in one place.

    Steps: `max_steps` when given, else the preset's for the algorithm, on a CPU capped so the whole loop fits
    `max_minutes`. A GRPO step takes batch / num_generations prompts; with fewer prompts than that the
    trainer's sampler yields no batch at all, so a tiny dataset gets a batch that holds all of it.
    """
    steps = max_steps
    if steps is None:
        steps = preset.algo(algo).int_arg("max_steps")
        if profile == "cpu" and preset.launch is not None:
            steps = max(1, min(steps, preset.launch.affordable_steps(max_minutes)))
    overrides = []
    if algo == "grpo":
        section = preset.algo("grpo")
        gens = section.int_arg("num_generations")
        if train_prompts * gens < section.int_arg("per_device_train_batch_size"):
            overrides.append(f"per_device_train_batch_size={train_prompts * gens}")
    return steps, overrides


def make_plan(inputs: PlanInputs) -> PlanResult:
    """Doctor + plan: the launch bundle the train stage runs as-is, checked by ms-swift's own parser."""
    from rlwhf.hardware import detect, pick_profile
    from rlwhf.plan import LaunchPlan, build_plan, validate_plan, write_plan
    from rlwhf.preset import load_preset

    info = detect()
    profile, why = pick_profile(info) if inputs.profile == "auto" else (inputs.profile, "asked for")
    cfg, steps = plan_config(inputs, profile, load_preset())
    path = write_plan(build_plan(cfg), cfg.output)
    written = LaunchPlan.load(path)
    for note in written.notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    problems = validate_plan(written)  # what `rlwhf plan --validate` checks
    if problems:
        raise RlwhfError(f"{path}: invalid plan: " + "; ".join(problems))
    return PlanResult(plan=str(path), profile=profile, why=why, max_steps=steps, doctor=info)


# ---------------------------------------------------------------- 6, 8. evaluation
@dataclass
class EvalInputs:
    output_dir: str  # DIR/eval_before or DIR/eval_after
    model: str
    model_key: str  # resume key of the stage that made the model
    prompts: str
    prompts_sha256: str
    baseline: str | None = None  # the warm-start answers, for prudence / over-conservativeness
    baseline_key: str | None = None


@dataclass
class EvalResult:
    metrics: str
    warnings: list[str]


def evaluate_policy(inputs: EvalInputs) -> EvalResult:
    """`rlwhf evaluate`. Rows that could not be graded are in answers.jsonl with an error status and the
    metrics count the graded ones: the launch goes on and the report says so."""
    from rlwhf.config import check
    from rlwhf.evaluate.evaluation import EvaluateConfig, evaluate

    cfg = EvaluateConfig(output_dir=inputs.output_dir, model=inputs.model, prompts=inputs.prompts,
                         baseline=inputs.baseline)
    check(cfg)
    result = evaluate(cfg)
    warnings: list[str] = []
    errors = result["metrics"].get("errors")
    if errors:
        warn(warnings, f"{Path(inputs.output_dir).name}: {errors} rows could not be graded (see answers.jsonl)")
    return EvalResult(metrics=str(result["metrics_path"]), warnings=warnings)


# ---------------------------------------------------------------- 7. train
@dataclass
class TrainInputs:
    plan: str
    plan_key: str
    backend: str  # auto = swift when installed, else trl
    resume: bool = field(default=False, metadata=KEY_EXEMPT)  # continue a train stage that was cut off


@dataclass
class TrainResult:
    final_model: str
    output_dir: str
    telemetry_dir: str
    backend: str
    attempts: list[dict]
    global_step: int
    max_steps: int
    wall_time_s: float
    peak_rss_mb: float | None
    summary: str


def resolve_backend(backend: str) -> str:
    """--backend auto: ms-swift when it is installed, else TRL."""
    if backend == "auto":
        import importlib.util

        return "swift" if importlib.util.find_spec("swift") else "trl"
    return backend


def train_policy(inputs: TrainInputs) -> TrainResult:
    """The plan's command (ms-swift) or TRL in-process, with supervision and telemetry (`rlwhf train`)."""
    from rlwhf.train import TrainConfig, train

    backend = resolve_backend(inputs.backend)
    done = train(TrainConfig(plan=inputs.plan, backend=backend, resume=inputs.resume))
    values = {f.name: done[f.name] for f in fields(TrainResult) if f.name != "backend"}
    return TrainResult(**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()}, backend=backend)


# ---------------------------------------------------------------- 9. report
@dataclass
class ReportInputs:
    output_dir: str
    config: dict  # the launch's settings, as report.json's "config"
    data: DataResult
    reward: RewardResult
    policy: PolicyResult
    expert: ExpertResult
    plan: PlanResult
    train: TrainResult
    eval_before: EvalResult
    eval_after: EvalResult
    stage_seconds: dict[str, float]
    wall_seconds: float


@dataclass
class ReportResult:
    report: str


def write_launch_report(inputs: ReportInputs) -> ReportResult:
    """report.json, report.md and the plots, from the files of this run."""
    from rlwhf.launch.report import write_report

    warnings = inputs.data.warnings + inputs.eval_before.warnings + inputs.eval_after.warnings
    done = write_report(Path(inputs.output_dir), cfg=inputs.config, data=asdict(inputs.data),
                        reward=asdict(inputs.reward), plan=asdict(inputs.plan), policy=asdict(inputs.policy),
                        expert=asdict(inputs.expert),
                        trained=asdict(inputs.train), warnings=warnings, timings=inputs.stage_seconds,
                        wall_seconds=inputs.wall_seconds)
    return ReportResult(report=done["report"])
