"""Analysis: the EDA statistics, its plotly charts and the HTML report."""
