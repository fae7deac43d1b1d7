"""The small question before pictures are added to a project with several concepts: which concept
they go to, or a new one (named in the same dialog)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

NEW = "\x00new"  # item data of the "New concept…" choice


class ConceptChoiceDialog(QDialog):
    def __init__(
        self,
        concepts: list[str],
        count_text: str,
        *,
        preselect: str | None,
        new_name: str = "New concept",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add to which concept?")
        self.setMinimumWidth(380)
        question = QLabel(f"Add {count_text} to which concept?")
        question.setWordWrap(True)
        self.combo = QComboBox()
        for name in concepts:
            self.combo.addItem(name, name)
        self.combo.addItem("New concept…", NEW)
        self.name = QLineEdit(new_name)
        self.name.setPlaceholderText("Name of the new concept")
        self.name_label = QLabel("Name")
        form = QFormLayout()
        form.addRow("Concept", self.combo)
        form.addRow(self.name_label, self.name)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(question)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.combo.currentIndexChanged.connect(self._update)
        self.name.textChanged.connect(self._update)
        index = self.combo.findData(preselect) if preselect is not None else -1
        self.combo.setCurrentIndex(index if index >= 0 else self.combo.count() - 1)
        self._update()

    def _update(self, *_: object) -> None:
        new = self.combo.currentData() == NEW
        self.name.setVisible(new)
        self.name_label.setVisible(new)
        ok = not new or bool(self.name.text().strip())
        self.ok_button.setEnabled(ok)
        self.ok_button.setToolTip("" if ok else "Type a name for the new concept first")

    def choice(self) -> tuple[str, bool]:
        """(concept name, whether it is a new concept to make)."""
        if self.combo.currentData() == NEW:
            return self.name.text().strip(), True
        return str(self.combo.currentData()), False
