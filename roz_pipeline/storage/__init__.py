"""PostgreSQL access for Roz: connections (server or embedded), migrations, and the heatmap queries."""
