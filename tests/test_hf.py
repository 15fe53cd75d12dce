"""Hugging Face models and checkpoints, offline (the extra 'hf'): a tiny GPT-2 built from its config, trained by a
real Trainer with HFCollector, whose checkpoint-<step>/ folders read back as the collector's checkpoints."""
import gc
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import zarr

pytest.importorskip("transformers")

from test_inputs import from_checkpoints, refused  # noqa: E402
from topograph import hf  # noqa: E402
from topograph.checkpoints import checkpoint_files  # noqa: E402
from topograph.preflight import check_config  # noqa: E402
from topograph.trajectory import extract_run, flatten, load_state_dict  # noqa: E402

GPT2 = {"architecture": "GPT2LMHeadModel", "n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 64,
        "n_positions": 64, "bos_token_id": 0, "eos_token_id": 0}
TEXT = "the quick brown fox jumps over the lazy dog while a landscape of losses unfolds below. " * 40


def test_from_config_builds_a_model_offline():
    model = hf.from_config(**GPT2)
    assert type(model).__name__ == "GPT2LMHeadModel" and len(model.transformer.h) == 2
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: save_pretrained writes it once
    logits = model(torch.zeros(1, 8, dtype=torch.long)).logits
    assert logits.shape == (1, 8, 64)
    with pytest.raises(ValueError, match="no model class 'GPT3LMHeadModel'"):
        hf.from_config(architecture="GPT3LMHeadModel")


def test_without_transformers_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'topograph\[hf\]'"):
        hf.from_config(**GPT2)
    code = "import sys, topograph, topograph.hf, topograph.preflight; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def sequences(count=200, length=16):
    ids = torch.tensor([ord(c) % 64 for c in TEXT])
    return [{"input_ids": ids[i:i + length], "labels": ids[i:i + length]} for i in range(0, count * 7, 7)]


def test_hf_collector_needs_every_steps_loss(tmp_path):
    pytest.importorskip("accelerate")  # the Trainer needs it
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, logging_steps=2, report_to=[], use_cpu=True)
    trainer = Trainer(model=hf.from_config(**GPT2), args=args, train_dataset=sequences(8),
                      callbacks=[hf.HFCollector(tmp_path / "checkpoints")])
    with pytest.raises(ValueError, match="logging_steps=1"):
        trainer.train()


def train_gpt2(root, *, also=(), resume=None):
    """12 steps of a 2-layer GPT-2 on 200 sequences of 16 characters: the Trainer's checkpoints every 4 steps and
    the collector's (steps 4, 8, 10, 11 and the last)."""
    pytest.importorskip("accelerate")  # the Trainer needs it
    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)
    model = hf.from_config(**GPT2)
    args = TrainingArguments(output_dir=str(root / "trainer"), max_steps=12, save_steps=4, logging_steps=1,
                             per_device_train_batch_size=8, learning_rate=1e-2, report_to=[], use_cpu=True,
                             disable_tqdm=True, dataloader_pin_memory=False)
    collector = hf.HFCollector(root / "collected" / "checkpoints", unit="step", intervals=[[4, 8], [10, 11]])
    trainer = Trainer(model=model, args=args, train_dataset=sequences(), callbacks=[collector, *also])
    trainer.train(resume_from_checkpoint=resume)
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return root, train_gpt2(root)


def test_hf_collector_records_what_the_trainer_logged(trained):
    root, trainer = trained
    info = json.loads((root / "collected" / "run.json").read_text())
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 12 and info["loss_curve"] == logged
    assert [entry["step"] for entry in trainer.state.log_history if "loss" in entry] == list(range(1, 13))
    assert [c["number"] for c in info["checkpoints"]] == [0, 4, 8, 10, 11, 12]
    assert [c["loss"] for c in info["checkpoints"][1:]] == [logged[n - 1] for n in (4, 8, 10, 11, 12)]
    assert info["network"] == "GPT2LMHeadModel" and info["unit"] == "step" and info["epoch_loss"] == []
    assert info["optimizer"] == "AdamW" and info["learning_rate"] == 1e-2


def test_trainer_checkpoint_folders_are_the_collectors_checkpoints(trained):
    root, _ = trained
    folders = checkpoint_files(root / "trainer", r"checkpoint-(\d+)$")
    assert folders == {n: root / "trainer" / f"checkpoint-{n}" for n in (4, 8, 12)}
    model = hf.from_config(**GPT2)
    for number, folder in folders.items():
        state = load_state_dict(folder)
        assert "lm_head.weight" not in state  # tied, left out by save_pretrained
        ours = flatten(model, load_state_dict(root / "collected" / "checkpoints" / f"step_{number:06d}.pt"))
        assert np.array_equal(flatten(model, state, folder), ours)
    assert not np.array_equal(flatten(model, load_state_dict(folders[4])), flatten(model, load_state_dict(folders[12])))


def test_a_trainer_folder_is_a_run_topograph_extracts(trained, tmp_path):
    root, _ = trained
    config = from_checkpoints(root / "trainer", r"checkpoint-(\d+)$", model="topograph.hf:from_config",
                              model_args=GPT2, unit="step")
    run = check_config(config)["r"]
    extract_run(run, tmp_path, tmp_path / "trajectory.zarr")
    weights = zarr.open_group(str(tmp_path / "trajectory.zarr"), mode="r")["weights"][:]
    model = hf.from_config(**GPT2)
    assert weights.shape == (3, sum(p.numel() for p in model.parameters()))  # the tied matrix once
    assert np.array_equal(weights[2], flatten(model, load_state_dict(root / "trainer" / "checkpoint-12")))


def test_a_truly_missing_key_is_still_refused(trained):
    root, _ = trained
    state = load_state_dict(root / "trainer" / "checkpoint-4")
    del state["transformer.h.0.ln_1.weight"]
    refused(flatten, hf.from_config(**GPT2), state, "ck", "runs.r.checkpoints", field="runs.r.checkpoints",
            says="missing keys transformer.h.0.ln_1.weight. Fix")


def test_a_truncated_safetensors_or_an_empty_folder_is_one_line(trained, tmp_path):
    root, _ = trained
    whole = (root / "trainer" / "checkpoint-4" / "model.safetensors").read_bytes()
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "checkpoint-8").mkdir()
    for path, says in [(tmp_path / "checkpoint-4", "is no whole safetensors file"),
                       (tmp_path / "checkpoint-8", "holds none of model.safetensors")]:
        message = refused(load_state_dict, path, "runs.r.checkpoints", field="runs.r.checkpoints", says=says)
        assert str(path) in message and "save_pretrained" in message
    message = refused(check_config, from_checkpoints(tmp_path, r"checkpoint-(\d+)$"), field="runs.r.checkpoints",
                      says="'checkpoint-8'")
    assert str(tmp_path) in message


@pytest.mark.parametrize("how", ["safetensors", "shards", "bin"])
def test_save_pretrained_folders_read_back(tmp_path, how):
    model = hf.from_config(**GPT2)
    if how == "bin":  # what older transformers wrote: pytorch_model.bin, without the tied lm_head.weight
        state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
        torch.save(state, tmp_path / "pytorch_model.bin")
    else:
        model.save_pretrained(tmp_path, **({"max_shard_size": "40KB"} if how == "shards" else {}))
    assert (tmp_path / "model.safetensors.index.json").is_file() == (how == "shards")
    assert np.array_equal(flatten(hf.from_config(**GPT2), load_state_dict(tmp_path), tmp_path),
                          torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy())


def token_windows(count: int = 40):
    """Dict items as a datasets.Dataset with set_format("torch") gives them; labels = input_ids, as for a causal LM."""
    return sequences(count)


@pytest.mark.cluster
def test_a_gpt2_landscape_from_trainer_folders_is_the_models_own_loss(trained, tmp_path):
    """The landscape of a Trainer's checkpoint-<step>/ folders, dict batches, .logits outputs, shift_labels: at grid
    points equal to the loss GPT2LMHeadModel computes itself from labels (it shifts them inside)."""
    from topograph import compute_landscapes, store

    root, _ = trained
    surfaces = compute_landscapes(tmp_path / "gpt2", model="topograph.hf:from_config", model_args=GPT2,
                                  data="test_hf:token_windows", checkpoints=root / "trainer",
                                  checkpoint_pattern=r"checkpoint-(\d+)$", unit="step", intervals=[[4, 8, 12]],
                                  landscapes=["train_4-12"], loss_args={"shift_labels": True},
                                  metrics=["accuracy", "perplexity"], resolution=3, num_samples=16, seed=1)
    surface = zarr.open_group(str(surfaces["train_4-12"]), mode="r")
    center, d1, d2, _ = store.read_vectors(surfaces["train_4-12"].with_name("directions.zarr"))
    index = surface["sample_index"][:]
    items = token_windows()
    ids = torch.stack([items[int(k)]["input_ids"] for k in index])
    model = hf.from_config(**GPT2).eval()
    for i, j in [(0, 0), (1, 1), (2, 0)]:
        weights = center + np.float32(surface["x"][i]) * d1 + np.float32(surface["y"][j]) * d2
        torch.nn.utils.vector_to_parameters(torch.from_numpy(weights), model.parameters())
        with torch.no_grad():
            out = model(input_ids=ids, labels=ids)
        predicted = out.logits[:, :-1].argmax(-1) == ids[:, 1:]
        assert float(surface["loss"][i, j]) == pytest.approx(out.loss.item(), rel=1e-5)
        assert float(surface["perplexity"][i, j]) == pytest.approx(np.exp(out.loss.item()), rel=1e-5)
        assert float(surface["accuracy"][i, j]) == pytest.approx(predicted.double().mean().item(), abs=1e-6)
    assert surface.attrs["metrics"] == ["accuracy", "perplexity"] and surface.attrs["loss_args"]["shift_labels"]


class Crash(Exception):
    pass


def test_a_training_resumed_from_a_trainer_checkpoint_continues_the_run(trained, tmp_path):
    """It crashes at step 11, after the collector's checkpoint 10; resumed from the Trainer's checkpoint-8, the
    run ends with the record and checkpoints of an uninterrupted one (checkpoint 10 saved again, the first aside)."""
    from transformers import TrainerCallback

    class CrashAt11(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 11:
                raise Crash

    with pytest.raises(Crash):
        train_gpt2(tmp_path, also=[CrashAt11()])
    gc.collect()  # the dead process's objects: its lock goes with them
    folder = tmp_path / "collected" / "checkpoints"
    assert json.loads((tmp_path / "collected" / "run.json").read_text())["steps"] == 10
    train_gpt2(tmp_path, resume=str(tmp_path / "trainer" / "checkpoint-8"))
    root, _ = trained
    reference = json.loads((root / "collected" / "run.json").read_text())
    assert json.loads((tmp_path / "collected" / "run.json").read_text()) == reference
    for checkpoint in reference["checkpoints"]:
        ours = load_state_dict(folder / checkpoint["file"])
        theirs = load_state_dict(root / "collected" / "checkpoints" / checkpoint["file"])
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs), checkpoint["file"]
    assert [p.name for p in (folder / "abandoned").iterdir()] == ["step_000010.pt"]


def windows_of_64(count: int = 8):
    """count sequences of 64 characters as a causal LM's dict items."""
    return sequences(count, 64)


@pytest.mark.cluster
def test_a_gpt2_from_a_users_folder_runs_with_the_defaults(tmp_path):
    """The --quick size of benchmarks/scale_evaluate.py: a user's folder of GPT-2 state_dicts, a PCA landscape over
    them and a result landscape at resolution 3 on 8 sequences of 64 tokens, with the defaults (worker_mem_mb
    computed): at grid points the loss GPT2LMHeadModel computes itself."""
    from topograph import compute_landscapes, store

    config = {**GPT2, "n_embd": 64, "vocab_size": 128}  # not 64 = the tokens: the class dimension is found
    folder = tmp_path / "user" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = hf.from_config(**config).eval()
    for step in range(1, 5):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter), alpha=1e-2)
        torch.save(model.state_dict(), folder / f"step_{step}.pt")
    surfaces = compute_landscapes(tmp_path / "gpt2", model="topograph.hf:from_config", model_args=config,
                                  data="test_hf:windows_of_64", checkpoints=folder, unit="step",
                                  intervals=[[1, 2, 3, 4]], landscapes=["train_1-4", "result"], metrics=[],
                                  loss_args={"shift_labels": True}, resolution=3, num_samples=8, seed=1)
    items = windows_of_64()
    for path in surfaces.values():
        surface = zarr.open_group(str(path), mode="r")
        center, d1, d2, _ = store.read_vectors(path.with_name("directions.zarr"))
        ids = torch.stack([items[int(k)]["input_ids"] for k in surface["sample_index"][:]])
        for i, j in [(0, 0), (1, 2), (2, 1)]:
            weights = center + np.float32(surface["x"][i]) * d1 + np.float32(surface["y"][j]) * d2
            torch.nn.utils.vector_to_parameters(torch.from_numpy(weights), model.parameters())
            with torch.no_grad():
                loss = model(input_ids=ids, labels=ids).loss.item()
            assert float(surface["loss"][i, j]) == pytest.approx(loss, rel=1e-5)
