"""What runs renders: task code, queues (embedded pool or Celery), the segment scheduler and
single flight."""
