"""The dataset check: every problem, grouped by picture, with a one-click fix where there is one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lora_studio.core.issues import Issue, Severity
from lora_studio.dataset.validate import Fix

FIX_LABELS: dict[Fix, str] = {
    Fix.REMOVE_ITEM: "Remove the picture",
    Fix.CONVERT_CAPTION_UTF8: "Convert the caption to UTF-8",
    Fix.WRITE_CAPTION: "Write a caption",
    Fix.SHORTEN_CAPTION: "Shorten the caption",
    Fix.ALPHA_TO_MASK: "Use the transparency as the mask",
    Fix.SET_REPEATS: "Set the repeats",
    Fix.ADD_IMAGES: "Add pictures",
    Fix.RESET_CROP: "Remove the crop",
}
SEVERITY_LABELS = {Severity.ERROR: "Problem", Severity.WARNING: "Warning", Severity.INFO: "Note"}
_COLORS = {Severity.ERROR: "#d1242f", Severity.WARNING: "#d4a72c", Severity.INFO: "#3d7be0"}
ISSUE_ROLE = Qt.ItemDataRole.UserRole + 1


def severity_icon(severity: Severity) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(_COLORS[severity]))
    p.drawEllipse(1, 1, 12, 12)
    p.setPen(QColor("white"))
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "!" if severity != Severity.INFO else "i")
    p.end()
    return QIcon(pm)


NOT_CHECKED = "Finds broken, tiny, duplicate or uncaptioned pictures before you train."
STALE = "The pictures changed since the last check; press “Check again” to see what is true now."


class CheckWidget(QWidget):
    check_requested = Signal()
    cancel_requested = Signal()
    fix_requested = Signal(Issue)  # Issue
    issue_activated = Signal(Issue)  # Issue: show its picture

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.issues: list[Issue] = []
        self.run_button = QPushButton("Check the dataset")
        self.run_button.setProperty("primary", True)
        self.run_button.clicked.connect(self._on_run)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.summary = QLabel(NOT_CHECKED)
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.itemSelectionChanged.connect(self._on_selected)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.fix_button = QPushButton("Fix")
        self.fix_button.setEnabled(False)
        self.fix_button.setToolTip("Fix the selected problems (choose a problem that has a fix first)")
        self.fix_button.clicked.connect(self._fix_selected)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addStretch(1)
        bottom = QHBoxLayout()
        hint = QLabel("Double-click a problem to show its picture.")
        hint.setProperty("muted", True)
        bottom.addWidget(hint, 1)
        bottom.addWidget(self.fix_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addLayout(bottom)
        self._running = False
        self.checked = False  # True once a check has shown its result

    # -- running -------------------------------------------------------------------------------
    def _on_run(self) -> None:
        if self._running:
            self.cancel_requested.emit()
        else:
            self.check_requested.emit()

    @property
    def running(self) -> bool:
        return self._running

    def set_running(self, running: bool) -> None:
        self._running = running
        self.run_button.setText("Stop checking" if running else "Check again" if self.issues else "Check the dataset")
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.summary.setText("Checking…")

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.summary.setText(f"Checking picture {min(done + 1, total)} of {total}…")

    # -- results -------------------------------------------------------------------------------
    def reset(self) -> None:
        """No check has run (a project was just opened): say what the check does, claim nothing."""
        self.issues = []
        self.tree.clear()
        self.checked = False
        self.summary.setText(NOT_CHECKED)
        self.set_running(False)

    def mark_stale(self) -> None:
        """The pictures changed after the last check: its result is no longer the truth."""
        if self.checked and not self._running:
            self.summary.setText(STALE)

    def set_issues(
        self, issues: list[Issue], names: dict[Path, str] | None = None, pictures: int | None = None
    ) -> None:
        """Show ``issues``; ``names`` maps a path to the picture it belongs to (for grouping);
        ``pictures`` is how many pictures were checked (0: there was nothing to check)."""
        self.checked = True
        self.issues = list(issues)
        names = names or {}
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        for issue in sorted(self.issues, key=lambda i: order[i.severity]):
            group_name = names.get(Path(issue.path)) if issue.path else None
            group_name = group_name or ("Whole dataset" if not issue.concept else f"Concept “{issue.concept}”")
            group = groups.get(group_name)
            if group is None:
                group = QTreeWidgetItem([group_name])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFlags(group.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                group.setData(0, ISSUE_ROLE, "")  # never empty: see image_list_model.thumbnail
                self.tree.addTopLevelItem(group)
                groups[group_name] = group
            fix = f"   →  {FIX_LABELS[issue.fix]}" if issue.fix else ""
            item = QTreeWidgetItem([f"{issue.message}{fix}"])
            item.setIcon(0, severity_icon(issue.severity))
            item.setToolTip(0, f"{SEVERITY_LABELS[issue.severity]}: {issue.message}")
            item.setData(0, ISSUE_ROLE, issue)
            group.addChild(item)
        self.tree.expandAll()
        counts = {s: sum(1 for i in self.issues if i.severity == s) for s in Severity}
        if not self.issues and pictures == 0:
            self.summary.setText("There are no pictures to check yet. Add some first.")
        elif not self.issues:
            self.summary.setText("No problems found. The dataset is ready to train.")
        else:
            parts = [
                f"{counts[s]} {SEVERITY_LABELS[s].lower()}{'s' if counts[s] != 1 else ''}" for s in Severity if counts[s]
            ]
            self.summary.setText("Found " + ", ".join(parts) + ".")

    def selected_issues(self) -> list[Issue]:
        return [i.data(0, ISSUE_ROLE) for i in self.tree.selectedItems() if isinstance(i.data(0, ISSUE_ROLE), Issue)]

    def _on_selected(self) -> None:
        fixes = {i.fix for i in self.selected_issues() if i.fix is not None}
        self.fix_button.setEnabled(len(fixes) == 1)
        self.fix_button.setText(FIX_LABELS[next(iter(fixes))] if len(fixes) == 1 else "Fix")

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        issue = item.data(0, ISSUE_ROLE)
        if isinstance(issue, Issue):
            self.issue_activated.emit(issue)

    def _fix_selected(self) -> None:
        for issue in self.selected_issues():
            if issue.fix is not None:
                self.fix_requested.emit(issue)
