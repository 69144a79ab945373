"""Kaiser, Nachum, Roy, Bengio, "Learning to Remember Rare Events", ICLR 2017.

memory.py   the life-long key-value memory (query, loss, update rules)
backends.py nearest-neighbour search: exact (matmul + top-k) or approximate (faiss IVF)
model.py    Omniglot encoder, episode training, one-shot evaluation, baselines
"""
from .backends import ExactSearch, FaissIVF, make_backend, recall_at_k
from .bench import big_memory, lookup_benchmark
from .memory import Memory, softmax_temperature
from .model import (PAPER, Encoder, MemoryNet, SoftmaxNet, build_model, embed, episode_shot_accuracy, episode_steps, evaluate_episodes,
                    evaluate_runs, lifelong_episodes, lived_memory, mean_key_cosine, memory_episode, nn_episodes, pixel_runs,
                    recall_after_stream, stream_into_memory, train, train_softmax)

__all__ = ["big_memory", "lookup_benchmark", "Memory", "softmax_temperature", "ExactSearch", "FaissIVF", "make_backend", "recall_at_k", "PAPER",
           "Encoder", "MemoryNet", "SoftmaxNet", "build_model", "embed", "episode_shot_accuracy", "episode_steps", "evaluate_episodes",
           "evaluate_runs", "lifelong_episodes", "lived_memory", "mean_key_cosine", "memory_episode", "nn_episodes", "pixel_runs", "recall_after_stream", "stream_into_memory", "train",
           "train_softmax"]
