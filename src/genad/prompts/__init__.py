"""Prompt builders: the study's ladder, the JSON output contract and backend-neutral messages."""

from genad.prompts.contract import ANSWER_SCHEMA, Answer, AnswerRegion, contract_text
from genad.prompts.ladder import LadderPrompt, PromptBuilder, PromptContext, study_wording
from genad.prompts.messages import ImagePart, Message, messages_digest

__all__ = [
    "ANSWER_SCHEMA",
    "Answer",
    "AnswerRegion",
    "ImagePart",
    "LadderPrompt",
    "Message",
    "PromptBuilder",
    "PromptContext",
    "contract_text",
    "messages_digest",
    "study_wording",
]
