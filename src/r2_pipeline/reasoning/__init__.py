"""The R2 reasoner at inference: decompose a question, allocate each subtask to a pool member, execute
the subtasks in order with earlier answers in context."""
