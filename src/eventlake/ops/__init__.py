"""Operations: the local broker, the analytics schedule and the process supervisor."""
