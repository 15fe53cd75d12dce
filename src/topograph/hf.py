"""Hugging Face models and Trainer runs, offline. Needs the extra: pip install 'topograph[hf]'.

A run config builds the network from its config alone (no hub, no download; checkpoints give the weights):

    model: topograph.hf:from_config
    model_args: {architecture: GPT2LMHeadModel, n_layer: 2, n_head: 2, n_embd: 32, vocab_size: 64}

and a Trainer run records what a Collector records (checkpoints and run.json):

    from topograph.hf import HFCollector
    args = TrainingArguments(output_dir, logging_steps=1, ...)   # HFCollector needs every step's loss
    Trainer(model, args, ..., callbacks=[HFCollector("results/myrun/checkpoints", unit="step",
                                                     intervals=[[100, 200, 300]])]).train()

The Trainer's own checkpoint-<step>/ folders can be read as well (checkpoint_pattern: 'checkpoint-(\\d+)$').
transformers is imported only when one of these is used: importing topograph never imports it.
"""
from __future__ import annotations


def _transformers():
    try:
        import transformers
    except ImportError as error:
        raise ImportError("topograph.hf needs transformers: pip install 'topograph[hf]'") from error
    return transformers


def from_config(architecture: str, **config):
    """The network `transformers.<architecture>` built from config, with random weights: the checkpoints replace
    them, so nothing is downloaded. An Auto class (AutoModelForCausalLM) takes the config's model_type too."""
    transformers = _transformers()
    cls = getattr(transformers, architecture, None)
    if architecture.startswith("Auto") and hasattr(cls, "from_config"):
        if "model_type" not in config:
            raise ValueError(f"{architecture} needs model_type (e.g. 'gpt2') among the config's keys")
        return cls.from_config(transformers.AutoConfig.for_model(config.pop("model_type"), **config))
    if not isinstance(getattr(cls, "config_class", None), type):
        raise ValueError(f"transformers {transformers.__version__} has no model class {architecture!r} (e.g. "
                         "GPT2LMHeadModel, BertForMaskedLM)")
    return cls(cls.config_class(**config))


def __getattr__(name):
    # HFCollector subclasses transformers.TrainerCallback, so the class is made on first use: a module-level
    # __getattr__ keeps `import topograph.hf` (and from_config's message) working without transformers.
    if name == "HFCollector":
        globals()[name] = _collector_class()
        return globals()[name]
    raise AttributeError(f"module 'topograph.hf' has no attribute {name!r}")


def _collector_class():
    transformers = _transformers()
    from .collect import Collector

    class HFCollector(transformers.TrainerCallback):
        """A Collector (topograph.collect) driven by a Trainer: the same checkpoints and run.json.

        The Trainer passes no loss to callbacks except in its logs, and logs only every logging_steps; so
        HFCollector needs logging_strategy='steps' with logging_steps=1 (refused otherwise at train begin) and takes
        each optimizer step's loss from on_log (logs['loss'], which is what state.log_history keeps). The log comes
        right after the step, before the Trainer saves or evaluates: the checkpoint of step n holds the weights
        after step n, as a Collector's does. An epoch cut short by max_steps is no epoch. A training resumed
        (train(resume_from_checkpoint=...)) continues the run in the folder from the Trainer's step, with the losses
        of its log_history. Not supported: load_best_model_at_end (it changes the weights before train end, where
        the last checkpoint is saved). Only the main process writes."""

        def __init__(self, folder, *, unit: str = "epoch", intervals=(), steps_per_epoch: int | None = None):
            self.folder, self.unit, self.intervals, self.steps_per_epoch = folder, unit, intervals, steps_per_epoch
            self.collector = None

        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
            if args.logging_strategy != "steps" or state.logging_steps != 1:
                raise ValueError("HFCollector needs every step's loss: set TrainingArguments(logging_strategy="
                                 f"'steps', logging_steps=1), not {args.logging_strategy!s}/{args.logging_steps}")
            if args.load_best_model_at_end:
                raise ValueError("HFCollector: load_best_model_at_end=True would save the best model as the last "
                                 "checkpoint; set it False")
            resume = False
            if state.global_step:  # resumed from a checkpoint-<step>/: the Trainer's state is that step's
                resume = {"steps": state.global_step, "epochs": int(state.epoch or 0),
                          "loss_curve": [entry["loss"] for entry in state.log_history
                                         if "loss" in entry and entry.get("step", 0) <= state.global_step]}
            if state.is_world_process_zero:
                self.collector = Collector(model, self.folder, unit=self.unit, intervals=self.intervals,
                                           optimizer=getattr(optimizer, "optimizer", optimizer),  # accelerate's
                                           learning_rate=args.learning_rate, steps_per_epoch=self.steps_per_epoch,
                                           resume=resume)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.collector is not None and logs and "loss" in logs:
                self.collector.step(logs["loss"])
                if self.collector.steps != state.global_step:
                    raise RuntimeError(f"HFCollector: {self.collector.steps} losses logged by step "
                                       f"{state.global_step}; something else logs 'loss'")

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.collector is not None and state.epoch is not None and float(state.epoch).is_integer():
                self.collector.epoch()

        def on_train_end(self, args, state, control, **kwargs):
            if self.collector is not None:
                self.collector.close()
                self.collector = None

    return HFCollector
