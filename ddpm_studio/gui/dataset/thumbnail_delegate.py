"""Thumbnails drawn with their own colours: a selected image gets a border, never the selection tint.

Qt's default item delegate paints a selected item's icon in `QIcon.Selected` mode (blended with the highlight
colour) on a highlight background, so a selected image's colours are wrong. This delegate paints the item as
if it were not selected and then draws a highlight-coloured frame around the cell (and a thinner one for the
current item with the keyboard focus) around the image, clear of the file name.

Every cell's image box is the view's icon size (issue 22 N15): Qt sizes a pixmap decoration by the pixmap, so a
portrait thumbnail pushed its file name out of the cell, a landscape one or the broken-file mark moved its name
up (part of a row 5 px off), and the name of a broken file went missing. The pixmap is drawn centred in that box,
fitted to it, and the name always sits under the same box.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

BORDER = 3  # px, the selection frame


class BorderSelectionDelegate(QStyledItemDelegate):
    """Paints items unselected (true colours) and marks selection with a frame in the highlight colour."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        """One image box for every cell: the view's icon size, whatever the pixmap's shape."""
        super().initStyleOption(option, index)
        box = self._icon_box(option)
        if box is not None and option.features & QStyleOptionViewItem.ViewItemFeature.HasDecoration:
            option.decorationSize = box
            option.decorationAlignment = Qt.AlignmentFlag.AlignCenter

    @staticmethod
    def _icon_box(option: QStyleOptionViewItem) -> QSize | None:
        widget = option.widget
        size = widget.iconSize() if widget is not None and hasattr(widget, "iconSize") else None
        return size if size is not None and size.isValid() and not size.isEmpty() else None

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        plain = QStyleOptionViewItem(option)
        plain.state &= ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        super().paint(painter, plain, index)
        if not (selected or focused):
            return
        painter.save()
        color = option.palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight)
        width = BORDER if selected else 1
        pen = QPen(color, width, Qt.PenStyle.SolidLine if selected else Qt.PenStyle.DotLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        half = (width + 1) // 2
        painter.drawRoundedRect(self._image_rect(option, index).adjusted(-half, -half, half, half), 3, 3)
        painter.restore()

    def _image_rect(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QRect:
        """Where the style draws the item's image (the frame goes around it, not across the file name)."""
        full = QStyleOptionViewItem(option)
        self.initStyleOption(full, index)
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        return style.subElementRect(QStyle.SubElement.SE_ItemViewItemDecoration, full, widget)
