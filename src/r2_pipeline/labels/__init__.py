"""Label making for SFT: the teacher's candidate plans, their scores, and the grouped search that
labels each subtask with the cheapest member a reviewer accepts."""
