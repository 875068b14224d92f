"""Long-context QA prompts: the one place with each paradigm's system prompt and the
chat-template formatting.

A prompted model was not trained on the protocol, so its system prompt teaches the actions
it may use, and the prompt is wrapped in the model's own chat template (the GGUF's
`tokenizer.chat_template`, rendered with llama-cpp-python's Jinja2 formatter) so the model
reads it as a conversation: system message, user message, then the assistant's turn, which
the thread writes. A GGUF without a template gets the plain form (system, blank line, user).
"""
from __future__ import annotations

from dataclasses import dataclass

# --- system prompts, one per paradigm (and role) -------------------------------------

COT_SYSTEM = (
    "You answer a question about a long document. Read the document, note the sentences "
    "that answer the question, then give a short answer (a few words or a number) on its "
    "own line, starting with @answer. Example:\n@answer 42")

FJ_ROOT_SYSTEM = (
    "You answer a question about a long document that is split into chunks. You cannot see "
    "the chunks; readers can. Work in three steps, each action on its own line:\n"
    "1. Give every chunk to a reader: @fork chunk 1 | chunk 2 | ... (all chunks).\n"
    "2. Wait for them: @join. Each reader sees its chunk and the question and writes "
    "@return followed by the sentences of its chunk that help answer the question, or "
    "@return none. Their results appear as lines starting with <<.\n"
    "3. Give a short answer (a few words or a number): @answer <answer>")

MPLM_CHUNK_SYSTEM = (
    "You are {name}, one of several readers of a long document; each reader holds one "
    "chunk. Other threads: {peers}, and the coordinator, who answers. Lines starting with "
    "<< are messages to you. Actions, each on its own line:\n"
    "@send <name>[,<name>...] <text>   message one or more threads\n"
    "@recv   wait for messages\n"
    "Send the coordinator the sentences of your chunk that help answer the question: "
    "@send coordinator <sentences>. If such a sentence names something your chunk does not "
    "explain, ask the other readers: @send <readers> ? <thing>, then @recv. When a reader "
    "asks about something your chunk explains, send it the sentence. Otherwise @recv.")

MPLM_COORDINATOR_SYSTEM = (
    "You are the coordinator. Readers {peers} each hold one chunk of a long document you "
    "cannot see; they send you the sentences that help answer the question as lines "
    "starting with <<. Wait for them with @recv (its own line). When you can answer, give a "
    "short answer (a few words or a number) on its own line: @answer <answer>")


def question_block(question: str) -> str:
    return f"Question: {question}"


def cot_user(context: str, question: str) -> str:
    return f"Document:\n{context}\n\n{question_block(question)}"


def fj_root_user(question: str, chunks: int) -> str:
    return f"The document has {chunks} chunks: chunk 1 to chunk {chunks}.\n{question_block(question)}"


def fj_task_text(chunk_id: int, chunks: int, chunk: str, question: str) -> str:
    """What a reader child gets inserted after its fork task line."""
    return f"chunk {chunk_id} of {chunks}:\n{chunk}\n{question_block(question)}\nYou are its reader."


def mplm_chunk_user(chunk_id: int, chunk: str, question: str) -> str:
    return f"Your chunk (chunk {chunk_id}):\n{chunk}\n\n{question_block(question)}"


# --- chat formatting -----------------------------------------------------------------

@dataclass(frozen=True)
class ChatFormat:
    """How a (system, user) pair becomes a thread's prompt text for one model."""

    template: str | None  # the GGUF's tokenizer.chat_template; None: the plain form
    bos_text: str = ""  # what the template calls bos_token / eos_token
    eos_text: str = ""
    runtime_adds_bos: bool = False  # the scheduler prepends BOS itself: do not render it twice

    @classmethod
    def of(cls, tokenizer) -> "ChatFormat":
        """The format a tokenizer's model asks for (plain for tokenizers without a template)."""
        return cls(getattr(tokenizer, "chat_template", None), getattr(tokenizer, "bos_text", ""),
                   getattr(tokenizer, "eos_text", ""), tokenizer.bos is not None)

    @property
    def source(self) -> str:
        return "gguf" if self.template else "plain"

    def render(self, system: str, user: str) -> str:
        """The prompt up to the start of the assistant's turn."""
        if not self.template:
            return f"{system}\n\n{user}\n\n"
        text = self._jinja([{"role": "system", "content": system},
                            {"role": "user", "content": user}])
        if self.runtime_adds_bos and self.bos_text and text.startswith(self.bos_text):
            text = text[len(self.bos_text):]
        return text

    def _jinja(self, messages: list[dict]) -> str:
        from jinja2 import TemplateError
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(self.template, self.eos_text, self.bos_text)
        try:
            return formatter(messages=messages).prompt
        except TemplateError:  # templates without a system role: fold it into the user turn
            merged = [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}]
            return formatter(messages=merged).prompt
