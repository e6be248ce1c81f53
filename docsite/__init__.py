"""The documentation site's build helpers: the MkDocs hooks (``hooks``) and the one script that
writes the shipped model's results into the README and the site (``results``)."""
