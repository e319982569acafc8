"""The single-page web app: static files and the small server that hands them out."""
