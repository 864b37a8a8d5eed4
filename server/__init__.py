"""工会智慧平台: the union's member database and the services built on it."""
