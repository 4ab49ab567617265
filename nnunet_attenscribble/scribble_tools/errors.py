"""One error type for bad input: it names the file and the problem, and the CLI turns it into exit code 2."""
from pathlib import Path
from typing import Optional, Union


class ScribbleToolError(Exception):
    def __init__(self, path: Optional[Union[str, Path]], problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)
