"""Files -> Documents -> chunks: loaders for PDF (table-aware), text, Markdown, HTML, DOCX, CSV.

Public API::

    from lcelkit.loaders import SUPPORTED_EXTENSIONS, discover, load, Splitter, load_and_split
"""

from .files import SUPPORTED_EXTENSIONS, discover, load
from .split import Splitter, load_and_split

__all__ = ["SUPPORTED_EXTENSIONS", "Splitter", "discover", "load", "load_and_split"]
