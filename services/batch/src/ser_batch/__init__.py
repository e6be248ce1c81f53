"""Score whole audio archives with the SER classifier on Ray Data."""
