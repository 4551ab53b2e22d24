from auth.models import Base
from chassis.migrations import run_env

run_env(Base.metadata)
