"""A tiny BERT classifier (built from a config: nothing is downloaded) trained by Hugging Face's
Trainer on generated token sequences whose label is whether token 7 occurs. The learning rate
in TrainingArguments is a usual one (AdamW at 5e-3) and the run is healthy; it is evaluated after every epoch."""
import tempfile

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class Tokens(Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 50, (n, 12), generator=g)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(12, dtype=torch.long),
                "labels": self.labels[i]}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    model = BertForSequenceClassification(config)
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), learning_rate=5e-3, num_train_epochs=10,
                             per_device_train_batch_size=32, report_to=[], save_strategy="no",
                             logging_steps=10, use_cpu=True, disable_tqdm=True, seed=0, eval_strategy="epoch")
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(640, 0), eval_dataset=Tokens(128, 1))
    trainer.train()


if __name__ == "__main__":
    main()
