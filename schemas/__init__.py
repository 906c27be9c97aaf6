"""Table contracts: every table the pipeline reads or writes is defined once, in
:mod:`schemas.tables`, and both the Arrow and the Spark schema are derived from that
definition (:func:`schemas.tables.arrow_schema`, :func:`schemas.tables.spark_schema`)."""

from schemas.tables import TABLES, Column, Table, arrow_schema, spark_schema, table

__all__ = ["TABLES", "Column", "Table", "arrow_schema", "spark_schema", "table"]
