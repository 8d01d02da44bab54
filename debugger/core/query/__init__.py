"""The one filter language: text to AST (language), AST to parameterised SQL text (sql), and the
statements a search reads given the index watermark (plan). Pure: the SQL is run only in :mod:`debugger.store.reads`."""
