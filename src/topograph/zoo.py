"""Demo models and datasets. Nothing here downloads: digits ship with scikit-learn,
MNIST and CIFAR-10 are read from a folder the user already has."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, TensorDataset


class LeNet5(nn.Module):
    """LeNet-5 as in the MindSpore landscape tutorial; `width` multiplies every hidden size."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 1):
        super().__init__()
        c1, c2, h1, h2 = 6 * width, 16 * width, 120 * width, 84 * width
        self.conv1 = nn.Conv2d(in_channels, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 5 * 5, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def lenet5(num_classes: int = 10, in_channels: int = 1, width: int = 1) -> nn.Module:
    return LeNet5(num_classes, in_channels, width)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inputs: int, width: int, stride: int = 1):
        super().__init__()
        out = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(inputs, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != out:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet for 32x32 inputs (3x3 stem, no max-pool), as in the CIFAR experiments of Li et al."""

    def __init__(self, blocks=(3, 4, 6, 3), num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, inputs = [], 64
        for stage, count in enumerate(blocks):
            for index in range(count):
                width = 64 * 2 ** stage
                layers.append(Bottleneck(inputs, width, 2 if index == 0 and stage > 0 else 1))
                inputs = width * Bottleneck.expansion
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(inputs, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet50_cifar(num_classes: int = 10) -> nn.Module:
    return ResNetCifar((3, 4, 6, 3), num_classes)


def synthetic(size: int = 2048, shape=(1, 32, 32), num_classes: int = 10, seed: int = 0) -> Dataset:
    """Gaussian inputs with random labels: for timing, where the values do not matter."""
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(size, *shape, generator=generator),
                         torch.randint(0, num_classes, (size,), generator=generator))


def digits(split: str = "train", size: int = 32, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, upsampled to size x size and standardized.
    The train/test split is fixed (stratified, random_state=0) so every run sees the same one."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"digits: split must be 'train', 'test' or 'all', not {split!r}")
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x - x.mean()) / x.std()
    y = torch.tensor(labels, dtype=torch.long)
    if split == "all":
        return TensorDataset(x, y)
    train, test = train_test_split(range(len(y)), test_size=test_fraction, random_state=0, stratify=labels)
    index = torch.tensor(train if split == "train" else test)
    return TensorDataset(x[index], y[index])


def _torchvision(name: str, root: str, train: bool, mean, std):
    try:
        from torchvision import datasets, transforms
    except ImportError as error:
        raise ImportError(f"{name} needs torchvision: pip install 'topograph[vision]'") from error
    if not Path(root).is_dir():
        raise FileNotFoundError(f"{name}: no folder {root!r}; point data_args.root at your local copy "
                                "(nothing is downloaded)")
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    return getattr(datasets, name)(root, train=train, transform=transform, download=False)


def mnist(root: str, train: bool = True) -> Dataset:
    """MNIST from a local torchvision folder, padded to 32x32 for LeNet-5."""
    dataset = _torchvision("MNIST", root, train, (0.1307,), (0.3081,))
    return _Padded(dataset, 2)


def cifar10(root: str, train: bool = True) -> Dataset:
    """CIFAR-10 from a local torchvision folder."""
    return _torchvision("CIFAR10", root, train, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


class _Padded(Dataset):
    def __init__(self, dataset: Dataset, pad: int):
        self.dataset, self.pad = dataset, pad

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        x, y = self.dataset[index]
        return F.pad(x, (self.pad,) * 4), y


TEXTS = Path(__file__).with_name("texts")


class CharTransformer(nn.Module):
    """A tiny causal transformer language model: token ids (B, T) -> next-token scores (B, T, vocab)."""

    def __init__(self, vocab: int, context: int = 32, width: int = 32, heads: int = 2, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(context, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, tokens):
        length = tokens.shape[1]
        x = self.embed(tokens) + self.position[:length]
        return self.head(self.blocks(x, mask=self.causal[:length, :length], is_causal=True))


def char_transformer(text: str = "jabberwocky", context: int = 32, width: int = 32, layers: int = 1) -> nn.Module:
    return CharTransformer(len(_alphabet(text)), context, width, layers=layers)


def _alphabet(text: str) -> str:
    return "".join(sorted(set((TEXTS / f"{text}.txt").read_text(encoding="utf-8"))))


def characters(text: str = "jabberwocky", context: int = 32) -> Dataset:
    """Every window of context + 1 characters of a text that ships with topograph: the first context as input,
    the same shifted by one as the next-token labels."""
    content = (TEXTS / f"{text}.txt").read_text(encoding="utf-8")
    ids = torch.tensor([_alphabet(text).index(c) for c in content])
    windows = ids.unfold(0, context + 1, 1)
    return TensorDataset(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())


def mlp_regressor(inputs: int = 10, width: int = 32) -> nn.Module:
    """A two-layer MLP with one output: a regression model."""
    return nn.Sequential(nn.Linear(inputs, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))


def diabetes() -> Dataset:
    """scikit-learn's diabetes regression data (442 patients, 10 features; ships with scikit-learn), features and
    the disease progression target standardized; targets of shape (1,) to match the model's output."""
    from sklearn.datasets import load_diabetes

    x, y = (torch.tensor(a, dtype=torch.float32) for a in load_diabetes(return_X_y=True))
    return TensorDataset((x - x.mean(0)) / x.std(0), ((y - y.mean()) / y.std())[:, None])
