"""Small models that stress the engines: BatchNorm, dropout, a non-linear first layer, unused parameters."""
import os

import torch
from torch import nn

from topograph import zoo


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.head(self.drop(x.flatten(1)))


class BatchNormCNN(nn.Module):
    """A small CNN with BatchNorm2d for 1 x 32 x 32 digits, trained by the workflow in tests/test_bn.py."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 6, 5, stride=2), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 8, 3, stride=2), nn.BatchNorm2d(8)
        self.head = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.head(torch.relu(self.bn2(self.conv2(x))).flatten(1))


class NonLinearFirst(nn.Module):
    """The input is squashed before the first conv: the first-layer trick must not apply."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.head(torch.relu(self.conv(torch.tanh(x))).flatten(1))


class Unused(nn.Module):
    """A parameter that forward never touches, and a linear first layer on flattened input."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3 * 8 * 8, 16)
        self.unused = nn.Linear(7, 7)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(torch.relu(self.first(x.flatten(1))))


class InputSkip(nn.Module):
    """The raw input is used again after the first layer: replacing the first layer's input would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Linear(3 * 8 * 8, 5)

    def forward(self, x):
        return self.head((torch.relu(self.conv(x)) * x).flatten(1))


class BatchNormVariants(nn.Module):
    """BatchNorms to fold (after a conv without bias, after a Linear, without affine weights) and not to fold
    (after a conv whose output is used again, after a conv module called twice)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.shared, self.bn3 = nn.Conv2d(6, 6, 1), nn.BatchNorm2d(6)
        self.fc, self.bn4 = nn.Linear(6 * 8 * 8, 16), nn.BatchNorm1d(16, affine=False)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = self.conv2(x)
        x = self.shared(self.bn3(self.shared(torch.relu(self.bn2(y)) + y)))
        return self.head(torch.relu(self.bn4(self.fc(x.flatten(1)))))


class Pools(nn.Module):
    """Max-pools whose windows tile the input (odd sizes: the rest is cut off), and two that do not."""

    def __init__(self):
        super().__init__()
        self.tiling, self.overlapping = nn.MaxPool2d(2), nn.MaxPool2d(3, stride=1)
        self.ceil = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x):
        tiled = self.tiling(nn.functional.max_pool2d(x, 2)).sum() + nn.functional.max_pool2d(x, (4, 3), (4, 3)).sum()
        return tiled + self.overlapping(x).sum() + self.ceil(x).sum()


class ViewAfterConv(nn.Module):
    """Flattens with .view(), which channels-last activations refuse."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        y = torch.relu(self.conv(torch.tanh(x)))
        return self.head(y.view(y.shape[0], -1))


class Residual(nn.Module):
    """A conv-BatchNorm-ReLU stem and two bottlenecks (a conv shortcut, then an identity one): seven ReLUs that
    FusedModel(relu=True) fuses into their conv, and one after a mean that it must leave alone."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(zoo.Bottleneck(8, 4), zoo.Bottleneck(16, 4))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)).relu())


class Doubled(nn.Module):
    """A conv output added to itself before the ReLU: no residual to fuse."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y + y)


class PoolThenReLU(nn.Module):
    """A tiling max-pool that drops the last row and column, then a ReLU module, after the first layer."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu, self.head = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        return self.head(self.relu(nn.functional.max_pool2d(self.conv(x), 2)).flatten(1))


class FailsInForward(nn.Module):
    """Raises in forward, after its layer has run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        self.conv(x)
        raise RuntimeError("this model cannot run")


def with_running_stats(model):
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():  # give the running statistics values of their own
        for _ in range(3):
            model(torch.randn(16, 3, 8, 8) * 2 + 0.5)
    return model.eval()


def batchnorm_net():
    return with_running_stats(BatchNormNet())


def batchnorm_variants():
    return with_running_stats(BatchNormVariants())


def residual():
    return with_running_stats(Residual())


def pool_then_relu():
    return PoolThenReLU()


def nonlinear_first():
    return NonLinearFirst()


def unused():
    return Unused()


def input_skip():
    return InputSkip()


def digits_built_by(pids: str, split: str = "test"):
    """zoo.digits, appending the id of the process that builds it to the file pids."""
    with open(pids, "a") as log:
        log.write(f"{os.getpid()}\n")
    return zoo.digits(split)


class Output(dict):
    """What a Hugging Face model returns: a mapping whose logits are also an attribute."""

    def __getattr__(self, name):
        return self[name]


class DictClassifier(nn.Module):
    """Hugging Face style: keyword inputs input_ids and attention_mask, an output with .logits."""

    def __init__(self, vocab: int = 12, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        return Output(logits=self.head(pooled))


def sequences(size: int = 120, vocab: int = 12, seed: int = 0):
    """Dict items of variable length: input_ids and the class of their most frequent token mod 3 as labels."""
    generator = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(size):
        ids = torch.randint(1, vocab, (int(torch.randint(3, 9, (1,), generator=generator)),), generator=generator)
        items.append({"input_ids": ids, "labels": int(ids.mode().values) % 3})
    return items


def pad(items):
    """Pads input_ids with 0 to the longest and adds attention_mask: a user's collate function."""
    longest = max(len(item["input_ids"]) for item in items)
    ids = torch.zeros(len(items), longest, dtype=torch.long)
    for row, item in enumerate(items):
        ids[row, :len(item["input_ids"])] = item["input_ids"]
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "labels": torch.tensor([i["labels"] for i in items])}


def bn_cnn():
    """A small CNN with BatchNorm after each convolution, for the digits: trained a few steps at a large learning
    rate, its running statistics lag its weights."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
