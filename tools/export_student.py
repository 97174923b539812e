"""Write the student-only checkpoint of a distillation checkpoint.

The result loads with ``strict=True`` into the plain model of the student's config.
"""
import argparse

from rkd.apis import exit_on_checkpoint_error, export_student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('checkpoint', help='a checkpoint written while training a distillation')
    parser.add_argument('out', help='where to write the student-only checkpoint')
    args = parser.parse_args()
    with exit_on_checkpoint_error():
        export_student(args.checkpoint, args.out)
    print(f'Saved the student of {args.checkpoint} to {args.out}')


if __name__ == '__main__':
    main()
