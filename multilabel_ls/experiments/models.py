"""Models of the experiments: an MLP for feature vectors and a small CNN for images.

Both output one logit per label (``(B, N)``); the loss decides whether a row's logits are read
per label (sigmoid strategies) or as one softmax (softmax strategies), so the same network
serves every strategy and only the objective changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .config import TrainConfig


class MLP(nn.Module):
    """``Linear → ReLU → Dropout`` per hidden width, then a linear layer to ``n_labels`` logits.

    Parameters
    ----------
    n_features, n_labels : int
        Input width and number of labels.
    hidden : sequence of int
        Hidden widths (``(256,)`` is the shape of ``MLPClassifier(256)``).
    dropout : float
        Dropout probability after every hidden layer.
    """

    def __init__(self, n_features: int, n_labels: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_labels))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        """Logits ``(B, n_labels)`` of flat features ``(B, n_features)``."""
        return self.net(x)


class SmallCNN(nn.Module):
    """``[Conv3x3 → ReLU → MaxPool2]`` per channel count, then an MLP head.

    Parameters
    ----------
    image_shape : (C, H, W)
        Input image shape; flat inputs ``(B, C*H*W)`` are reshaped in :meth:`forward`.
    n_labels : int
        Number of labels.
    channels : sequence of int
        Output channels of the convolution blocks (padding 1, so each block halves H and W).
    hidden : sequence of int
        Widths of the fully connected head.
    dropout : float
        Dropout in the head.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_labels: int,
        channels: Sequence[int],
        hidden: Sequence[int],
        dropout: float,
    ):
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        self.image_shape = (c, h, w)
        blocks: list[nn.Module] = []
        for out in channels:
            if h < 2 or w < 2:
                raise ValueError(
                    f"train.channels has {len(channels)} blocks, too many for images "
                    f"{tuple(image_shape)} (each block halves height and width)"
                )
            blocks += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = out, h // 2, w // 2
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.head = MLP(c * h * w, n_labels, hidden, dropout)

    def forward(self, x):
        """Logits ``(B, n_labels)`` of images ``(B, C, H, W)`` or flat ``(B, C*H*W)``."""
        if x.ndim == 2:
            x = x.reshape(x.shape[0], *self.image_shape)
        return self.head(self.features(x))


def resolve_model_kind(train: TrainConfig, image_shape: Sequence[int] | None) -> str:
    """``"mlp"`` or ``"cnn"``: ``train.model``, with ``"auto"`` = CNN exactly for image data."""
    if train.model == "auto":
        return "cnn" if image_shape is not None else "mlp"
    if train.model == "cnn" and image_shape is None:
        raise ValueError("train.model='cnn' needs an image data set (one with image_shape)")
    return train.model


def build_model(
    train: TrainConfig, n_features: int, n_labels: int, image_shape: Sequence[int] | None
) -> nn.Module:
    """The network of ``train`` for a data set of the given shape (initialised from torch's RNG)."""
    if resolve_model_kind(train, image_shape) == "cnn":
        return SmallCNN(image_shape, n_labels, train.channels, train.hidden, train.dropout)
    return MLP(n_features, n_labels, train.hidden, train.dropout)
