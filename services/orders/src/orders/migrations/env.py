from chassis.migrations import run_env
from orders.models import Base

run_env(Base.metadata)
