"""The small convolutional classifier behind the offline feature extractors."""

from __future__ import annotations

import torch
from torch import nn


class SmallConvNet(nn.Module):
    """Five 3×3 conv layers (three stride-2) with batch norm, global average pooling, and a
    linear classifier. The pooled ``width * 4`` activations are the features.

    Small enough to train on 2 CPU cores in minutes and to ship in the package (~0.3 MB).
    """

    def __init__(self, *, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        plan = [
            (in_channels, width, 1),
            (width, width, 2),
            (width, 2 * width, 1),
            (2 * width, 2 * width, 2),
            (2 * width, 4 * width, 2),
        ]
        layers: list[nn.Module] = []
        for source, target, stride in plan:
            layers += [
                nn.Conv2d(source, target, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(target),
                nn.ReLU(inplace=True),
            ]
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4 * width, num_classes)
        self.feature_dim = 4 * width

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))
