"""Sphinx configuration of the mmshuffle documentation (``make docs``)."""
import os.path as osp
import sys

DOCS = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(DOCS)
sys.path.insert(0, osp.join(DOCS, '_ext'))
sys.path.insert(0, ROOT)

from mmshuffle.version import __version__  # noqa: E402

project = 'mmshuffle'
author = 'mmshuffle contributors'
copyright = 'mmshuffle contributors, Apache-2.0'
version = release = __version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'sphinx_copybutton',
    'model_zoo',
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

myst_heading_anchors = 3

autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_default_options = {'members': True, 'show-inheritance': True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = 'furo'
html_title = f'mmshuffle {release}'
html_static_path = []
copybutton_prompt_text = r'\$ '
copybutton_prompt_is_regexp = True
