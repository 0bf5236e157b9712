"""The portability report: result files from many hosts merged into one matrix.

  matrix   load result files, judge each case per host, find where hosts disagree
  claims   well-known claims (cases/claims.yaml) answered per host
  render   Markdown and HTML from the Jinja2 templates in harness/templates/
  junit    JUnit XML for CI systems
  cli      ./bindmatrix report RESULTS... [-o DIR]
"""
