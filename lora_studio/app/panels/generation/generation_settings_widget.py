"""Sampler, steps, CFG, seed, size, batch, clip skip, and the optional start picture (img2img/inpaint)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from lora_studio.app.panels.generation.hires_fix_widget import HIRES_FLUX_TIP, HIRES_TIP, HiresFixWidget
from lora_studio.app.panels.generation.init_image_widget import InitImageWidget
from lora_studio.app.panels.generation.model_options_widget import ModelOptionsWidget
from lora_studio.core.families import ModelFamily
from lora_studio.generation.request import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULE,
    FLOW_SAMPLERS,
    FLOW_SCHEDULES,
    SAMPLERS,
    SCHEDULE_TYPES,
    GenerationRequest,
    family_defaults,
)

MAX_SEED = 2**32 - 1
NATIVE = "native"
OWN_SIZE_TIP = "The picture size this model was made for."
OWN_SIZE_UNKNOWN_TIP = "The picture size the model was made for; the number shows once the model is loaded."
CUSTOM = "custom"

SIZE_PRESETS: dict[ModelFamily, list[tuple[str, int, int]]] = {
    ModelFamily.SD1: [("Square", 512, 512), ("Portrait", 512, 768), ("Landscape", 768, 512)],
    ModelFamily.SD2: [("Square", 768, 768), ("Portrait", 640, 896), ("Landscape", 896, 640)],
    ModelFamily.SDXL: [
        ("Square", 1024, 1024),
        ("Portrait", 832, 1216),
        ("Landscape", 1216, 832),
        ("Portrait 4:5", 896, 1152),
        ("Landscape 5:4", 1152, 896),
    ],
    ModelFamily.FLUX: [  # multiples of 16, about a megapixel (FLUX also does well up to 2 MP)
        ("Square", 1024, 1024),
        ("Portrait", 896, 1152),
        ("Landscape", 1152, 896),
        ("Portrait 2:3", 832, 1216),
        ("Landscape 3:2", 1216, 832),
    ],
}
CFG_TIP = "How strictly the picture follows the prompt (CFG). 5–8 is usual."
FLUX_CFG_TIP = (
    "FLUX.1 is guided by Distilled CFG Scale; leave this at 1. Above 1 (with a negative prompt) it "
    "also runs real CFG, which makes each step take twice as long."
)
NO_NEGATIVE_TIP = (
    "FLUX.1 uses no negative prompt while CFG scale is 1. Raise CFG scale above 1 to use one "
    "(each step then takes twice as long)."
)


class GenerationSettingsWidget(QWidget):
    changed = Signal()
    negative_state = Signal(bool, str)  # whether the negative prompt applies, and why not

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._family: ModelFamily | None = None
        self._flux_lists = False  # the sampler lists hold FLUX's choices
        self._schnell = False
        self._native = 512
        self.last_seed: int | None = None

        self.sampler = QComboBox()
        self.sampler.addItems(SAMPLERS)
        self.sampler.setCurrentText(DEFAULT_SAMPLER)
        self.sampler.setToolTip(
            "How the picture is worked out from noise. “Euler a” and “DPM++ 2M” are good defaults."
        )
        self.schedule = QComboBox()
        self.schedule.addItems(SCHEDULE_TYPES)
        self.schedule.setCurrentText(DEFAULT_SCHEDULE)
        self.schedule.setToolTip(
            "How the noise shrinks over the steps. “Automatic” suits most samplers; “Karras” often looks cleaner."
        )
        self.steps = QSpinBox()
        self.steps.setRange(1, 150)
        self.steps.setValue(20)
        self.steps.setToolTip("More steps: more detail but slower. 20–30 is usual.")
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(0.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setValue(7.0)
        self.cfg.setToolTip(CFG_TIP)
        self.cfg.valueChanged.connect(self._update_negative)

        self.seed = QLineEdit()
        self.seed.setPlaceholderText("Random")
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"^\d{0,10}$")))
        self.seed.setToolTip(
            "The same seed with the same settings gives the same picture. Empty = a new random one."
        )
        self.dice_button = QToolButton()
        self.dice_button.setText("Random")
        self.dice_button.setToolTip("Use a random seed each time")
        self.dice_button.clicked.connect(self.seed.clear)
        self.seed.textChanged.connect(self._update_dice)
        self._update_dice()
        self.recycle_button = QToolButton()
        self.recycle_button.setText("Last")
        self.recycle_button.setToolTip("Reuse the seed of the last picture")
        self.recycle_button.setEnabled(False)
        self.recycle_button.clicked.connect(self.reuse_last_seed)
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice_button)
        seed_row.addWidget(self.recycle_button)

        self.size_preset = QComboBox()
        self.size_preset.setToolTip(
            "Picture size. Each kind of model works best near the size it was trained at."
        )
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin in (self.width_spin, self.height_spin):
            spin.setRange(64, 2048)
            spin.setSingleStep(64)
            spin.setValue(512)
            spin.setSuffix(" px")
        size_row = QHBoxLayout()
        size_row.setContentsMargins(0, 0, 0, 0)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        size_row.addStretch(1)
        self.size_preset.currentIndexChanged.connect(self._on_preset)

        self.batch_count = QSpinBox()
        self.batch_count.setRange(1, 100)
        self.batch_count.setToolTip("How many times to generate in a row")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 16)
        self.batch_size.setToolTip("How many pictures at once (needs more graphics memory)")
        self.clip_skip = QSpinBox()
        self.clip_skip.setRange(1, 12)
        self.clip_skip.setToolTip("1 = normal. Many anime models want 2.")

        self.init_image = InitImageWidget()
        self.hires = HiresFixWidget()
        self.options = ModelOptionsWidget()

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)

        def label(text: str) -> QLabel:
            widget = QLabel(text)
            widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return widget

        grid.addWidget(label("Sampler"), 0, 0)
        grid.addWidget(self.sampler, 0, 1)
        grid.addWidget(label("Schedule"), 0, 2)
        grid.addWidget(self.schedule, 0, 3)
        grid.addWidget(label("Steps"), 1, 0)
        grid.addWidget(self.steps, 1, 1)
        grid.addWidget(label("CFG scale"), 1, 2)
        grid.addWidget(self.cfg, 1, 3)
        grid.addWidget(label("Seed"), 2, 0)
        grid.addLayout(seed_row, 2, 1, 1, 3)
        grid.addWidget(label("Size"), 3, 0)
        grid.addWidget(self.size_preset, 3, 1, 1, 3)
        grid.addLayout(size_row, 4, 1, 1, 3)
        grid.addWidget(label("Batches"), 5, 0)
        grid.addWidget(self.batch_count, 5, 1)
        grid.addWidget(label("At once"), 5, 2)
        grid.addWidget(self.batch_size, 5, 3)
        grid.addWidget(label("Clip skip"), 6, 0)
        grid.addWidget(self.clip_skip, 6, 1)
        grid.addWidget(self.options, 7, 0, 1, 4)
        grid.addWidget(self.hires, 8, 0, 1, 4)
        grid.addWidget(self.init_image, 9, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.set_family(None)

    # -- model -----------------------------------------------------------------------------------
    def set_family(
        self, family: ModelFamily | None, native: int | None = None, schnell: bool = False
    ) -> None:
        """Offer the sizes, samplers and options that suit ``family``; keep a custom size the user typed.
        Switching between FLUX.1 and the SD families (or dev and schnell) sets that kind's defaults."""
        flux = family == ModelFamily.FLUX
        if flux != self._flux_lists or (flux and schnell != self._schnell):
            self._use_defaults(flux, schnell)
        self._schnell = flux and schnell
        self.options.set_family(family, schnell)
        self.clip_skip.setEnabled(not flux)
        self.clip_skip.setToolTip(
            "FLUX.1 uses CLIP's summary only: clip skip does not apply."
            if flux
            else "1 = normal. Many anime models want 2."
        )
        self.cfg.setToolTip(FLUX_CFG_TIP if flux else CFG_TIP)
        self.hires.setEnabled(not flux)
        self.hires.setToolTip(HIRES_FLUX_TIP if flux else HIRES_TIP)
        self._family = family
        self._update_negative()
        self._native = native or (family.default_resolution if family else 512)  # the spins' guess
        current = self.size_preset.currentData()
        self.size_preset.blockSignals(True)
        self.size_preset.clear()
        # the number only once a loaded model told it: a small or unusual model draws at another size
        own = f"Model's own size ({native}×{native})" if native else "Model's own size"
        self.size_preset.addItem(own, NATIVE)
        self.size_preset.setItemData(0, OWN_SIZE_TIP if native else OWN_SIZE_UNKNOWN_TIP, Qt.ItemDataRole.ToolTipRole)
        for label, w, h in SIZE_PRESETS.get(family, []) if family else []:
            self.size_preset.addItem(f"{label} {w}×{h}", (w, h))
        self.size_preset.addItem("Custom…", CUSTOM)
        index = self.size_preset.findData(current) if current is not None else 0
        self.size_preset.setCurrentIndex(max(0, index))
        self.size_preset.blockSignals(False)
        self._on_preset()

    def _use_defaults(self, flux: bool, schnell: bool) -> None:
        if flux != self._flux_lists:
            for combo, items in ((self.sampler, FLOW_SAMPLERS), (self.schedule, FLOW_SCHEDULES)):
                combo.blockSignals(True)
                combo.clear()
                combo.addItems(items if flux else (SAMPLERS if combo is self.sampler else SCHEDULE_TYPES))
                combo.blockSignals(False)
            self._flux_lists = flux
        defaults = family_defaults("flux" if flux else "sd1", schnell=schnell)
        self.sampler.setCurrentText(defaults.sampler)
        self.schedule.setCurrentText(defaults.schedule)
        self.steps.setValue(defaults.steps)
        self.cfg.setValue(defaults.cfg)

    def _update_negative(self, *_: object) -> None:
        applies = self._family != ModelFamily.FLUX or self.cfg.value() > 1.0
        self.negative_state.emit(applies, "" if applies else NO_NEGATIVE_TIP)

    def _on_preset(self, *_: object) -> None:
        data = self.size_preset.currentData()
        custom = data == CUSTOM
        for spin in (self.width_spin, self.height_spin):
            spin.setEnabled(custom)
        if data == NATIVE:
            self.width_spin.setValue(self._native)
            self.height_spin.setValue(self._native)
        elif isinstance(data, tuple):
            self.width_spin.setValue(data[0])
            self.height_spin.setValue(data[1])

    def set_size(self, width: int | None, height: int | None) -> None:
        if width is None or height is None:
            self.size_preset.setCurrentIndex(self.size_preset.findData(NATIVE))
            return
        index = self.size_preset.findData((width, height))
        if index < 0:
            index = self.size_preset.findData(NATIVE) if width == height == self._native else -1
        self.size_preset.setCurrentIndex(index if index >= 0 else self.size_preset.findData(CUSTOM))
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)

    # -- seed ------------------------------------------------------------------------------------
    def _update_dice(self) -> None:
        """Disabled, saying so, while the seed is already empty (random): pressing it would do nothing."""
        random = not self.seed.text()
        self.dice_button.setEnabled(not random)
        self.dice_button.setToolTip(
            "The seed is empty: every picture gets a new random one"
            if random
            else "Use a random seed each time"
        )

    def seed_value(self) -> int:
        text = self.seed.text().strip()
        return min(int(text), MAX_SEED) if text else -1

    def set_seed(self, seed: int) -> None:
        self.seed.setText("" if seed < 0 else str(seed))

    def set_last_seed(self, seed: int) -> None:
        self.last_seed = seed
        self.recycle_button.setEnabled(True)
        self.recycle_button.setToolTip(f"Reuse the seed of the last picture ({seed})")

    def reuse_last_seed(self) -> None:
        if self.last_seed is not None:
            self.set_seed(self.last_seed)

    # -- requests --------------------------------------------------------------------------------
    def request_fields(self) -> dict[str, Any]:
        """The request fields this widget owns."""
        native = self.size_preset.currentData() == NATIVE
        step = 16 if self._family == ModelFamily.FLUX else 8  # FLUX packs 2×2 latent pixels
        fields: dict[str, Any] = dict(
            sampler=self.sampler.currentText(),
            schedule=self.schedule.currentText(),
            steps=self.steps.value(),
            cfg=round(self.cfg.value(), 2),
            seed=self.seed_value(),
            width=None if native else self.width_spin.value() // step * step,
            height=None if native else self.height_spin.value() // step * step,
            batch_count=self.batch_count.value(),
            batch_size=self.batch_size.value(),
            clip_skip=self.clip_skip.value(),
        )
        fields.update(self.init_image.request_fields())
        fields.update(self.hires.request_fields())
        fields.update(self.options.request_fields())
        return fields

    def apply_request(self, request: GenerationRequest) -> None:
        """Show the settings of ``request`` (e.g. restored from a picture)."""
        self.sampler.setCurrentText(request.sampler)
        self.schedule.setCurrentText(request.schedule)
        self.steps.setValue(request.steps)
        self.cfg.setValue(request.cfg)
        self.set_seed(request.seed)
        self.set_size(request.width, request.height)
        self.clip_skip.setValue(request.clip_skip)
        self.hires.apply_request(request)
        self.options.apply_request(request)
        if request.init_image:
            self.init_image.set_strength(request.strength)
