"""The book's ``dataset`` package: :mod:`kobai.book.dataset.mnist`, the book's ``load_mnist``
served by kobai's verified loader."""
