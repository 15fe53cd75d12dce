import os
import re
import sys
from pathlib import Path

from topograph import jobs, kinds
from topograph.checkpoints import checkpoint_files, collector_record
from topograph.errors import ConfigError
from topograph.preflight import check_config

if not config:
    sys.exit("topograph: no configuration. Fix: run snakemake with --configfile config/config.yaml (or your own).")
try:
    RUNS = check_config(config)  # run name -> topograph.run.Run
except ConfigError as error:
    sys.exit(f"topograph config error: {error}")


onstart:
    try:
        if set(workflow.dag_settings.targets) != {"preview"}:  # preview reads stores, writes only preview.html
            jobs.hold_folder()
    except jobs.Busy as error:
        sys.exit(f"topograph: {error}")


EVALUATE_ENV = "../../envs/gpu.yaml" if config["devices"] else "../../envs/cpu.yaml"
LANDSCAPES = {name: kinds.landscapes(run) for name, run in RUNS.items()}

# What each rule's output depends on, passed as its params, as the config writes it: Snakemake reruns a job when
# they change, so a key that is not here reruns nothing (the jobs read their Run, whose other keys change the speed
# only: batch_size, the cluster keys; bn_keys() adds what the BatchNorm policy makes the surface depend on).
TRAIN_KEYS = ("model", "model_args", "data", "data_args", "train", "unit", "intervals", "loss", "loss_args", "collate")
TRAJECTORY_KEYS = ("model", "model_args")  # + CHECKPOINT_KEYS for a run from checkpoints (others have run.json)
CHECKPOINT_KEYS = ("checkpoints", "checkpoint_pattern", "unit", "steps_per_epoch", "network", "optimizer",
                   "learning_rate")
EVALUATE_KEYS = ("model", "model_args", "data", "num_samples", "seed", "resolution", "loss", "loss_args", "metrics",
                 "collate")


wildcard_constraints:
    run="|".join(map(re.escape, RUNS)),
    landscape=kinds.NAME_PATTERN,


def run_keys(wildcards, keys):
    run = config["runs"][wildcards.run]
    return {key: run[key] for key in keys if key in run}


def trajectory_keys(wildcards):
    """params only where set: a run without it reruns nothing that was extracted before the key."""
    run = RUNS[wildcards.run]
    keys = TRAJECTORY_KEYS + CHECKPOINT_KEYS * (run.checkpoints is not None) + ("params",) * (run.params is not None)
    return run_keys(wildcards, keys)


def evaluated_data(wildcards):
    """The evaluation's data_args alone, so that a change of the training data_args reruns it only when used: under
    bn recalibrate, which takes batches of the training data, data_args and eval_data_args as they are."""
    run = RUNS[wildcards.run]
    keys = {**run_keys(wildcards, EVALUATE_KEYS), **bn_keys(run),
            **({"keep_sample_losses": True} if run.keep_sample_losses else {}),  # false: as before the key
            **({"precision": run.precision} if run.precision != "fp32" else {}),  # fp32: the same
            **({"params": run.params} if run.params is not None else {})}  # all parameters: the same
    if run.bn == "recalibrate":
        return {**keys, "data_args": run.data_args, "eval_data_args": run.eval_data_args}
    return {**keys, "eval_data_args": None, "data_args": run.evaluation_data_args}


def bn_keys(run):
    """What the BatchNorm policy adds: nothing under bn eval (so surfaces from before the key are not redone);
    else bn and batch_size, the batches BatchNorm normalizes over, and under recalibrate bn_batches."""
    if run.bn == "eval":
        return {}
    return {"bn": run.bn, "batch_size": run.batch_size, **({"bn_batches": run.bn_batches} if run.bn == "recalibrate"
                                                          else {})}


# what curvature.zarr depends on (batch_size changes how fast only): the run's landscape samples and loss, the
# options, and the optimizer its stability threshold is of
CURVATURE_KEYS = ("curvature", "train", "optimizer", "learning_rate", "model", "model_args", "data", "num_samples",
                  "seed", "loss", "loss_args", "collate")


def curvature_keys(wildcards):
    return {**run_keys(wildcards, CURVATURE_KEYS), "data_args": RUNS[wildcards.run].evaluation_data_args}


def curvature_stores():
    """results/<run>/curvature.zarr of every run whose curvature: is set."""
    return [f"results/{name}/curvature.zarr" for name, run in RUNS.items() if run.curvature]


def surface(run, name):
    return f"results/{run}/landscapes/{name}/surface.zarr"


def run_outputs(wildcards):
    names = LANDSCAPES[wildcards.run]
    return {
        "directions": [f"results/{wildcards.run}/landscapes/{n}/directions.zarr" for n in names],
        "surfaces": [surface(wildcards.run, n) for n in names],
        "curvature": [f"results/{wildcards.run}/curvature.zarr"] * bool(RUNS[wildcards.run].curvature),
    }


def fit_inputs(wildcards):
    """The run's trajectory, then those of the other runs its landscape reads, then the other runs' planes it reads
    (directions_from)."""
    params = LANDSCAPES[wildcards.run][wildcards.landscape][1]
    others = kinds.runs_read(wildcards.landscape, params)
    planes = kinds.planes_read(wildcards.landscape, params)
    return ([f"results/{run}/trajectory.zarr" for run in [wildcards.run, *others]]
            + [f"results/{run}/landscapes/{name}/directions.zarr" for run, name in planes])


def trajectory_sources(wildcards):
    """What extract_trajectory reads: run.json after training, or the user's checkpoint files."""
    run = RUNS[wildcards.run]
    if run.checkpoints is not None:
        files = [str(p) for p in checkpoint_files(run.checkpoints, run.checkpoint_pattern).values()]
        record = Path(run.checkpoints).parent / "run.json"  # a Collector's, read by extract_trajectory
        return files + [str(record)] * (collector_record(run.checkpoints) is not None)
    return f"results/{wildcards.run}/run.json"


# evaluate_grid's workers where workers: is null and Snakemake has no --cores: under a cluster executor (SLURM),
# which gives every job what its rule asks for.
CLUSTER_WORKERS = 4


def evaluate_workers(wildcards=None):
    """One dask worker per GPU in devices:, else per core: workers:, or the cores Snakemake has (in a SLURM job
    those SLURM gave it, not all of the node's), else CLUSTER_WORKERS; under jobqueue: one, the job's client (its
    workers are SLURM jobs of their own)."""
    if config["jobqueue"]:
        return 1
    given = workflow.remote_exec and int(os.environ.get("SLURM_CPUS_PER_TASK", 0))
    return (len(config["devices"] or []) or config["workers"] or given or workflow.resource_settings.cores
            or CLUSTER_WORKERS)


def evaluate_mem_mb(wildcards, threads):
    """threads x worker_mem_mb; where that is null (the job computes what one worker needs), x 4000: computing it
    here would build every run's model and data in this process, seconds on every start of the workflow."""
    return threads * (config["worker_mem_mb"] or 4000)


def exports(run, name):
    """The files of a landscape that the target export asks for, made by export_landscape and export_track (where
    its kind's plane holds tracks)."""
    files = [f"results/{run}/export/{name}.vtu", f"results/{run}/export/{name}.nc"]
    return files + [f"results/{run}/export/{name}_track.vtu"] * kinds.of_name(name).TRACKED
