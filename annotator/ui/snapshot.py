"""Everything the project holds about one person, to delete it and put it back (undo). Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotator.dataset.records import Answers, GoldTruth, PartMask, Person, SamplePoints
from annotator.dataset.store import Project


@dataclass
class PersonSnapshot:
    """A person with its masks (every annotator's), sample points, answers, gold truth, and
    the ids of the model proposals made for it."""

    person: Person
    masks: list[PartMask] = field(default_factory=list)
    points: SamplePoints | None = None
    answers: list[Answers] = field(default_factory=list)
    gold: GoldTruth | None = None
    proposal_ids: list[int] = field(default_factory=list)

    @staticmethod
    def take(project: Project, person_id: int) -> PersonSnapshot:
        """Read a person's whole record from the project."""
        return PersonSnapshot(
            person=project.person(person_id),
            masks=project.part_masks(person_id),
            points=project.sample_points(person_id),
            answers=project.all_answers(person_id),
            gold=project.gold(person_id),
            proposal_ids=[p.id for p in project.proposals(person_id=person_id)],
        )

    def restore(self, project: Project) -> int:
        """Write the person back under its id, in one transaction; returns the id."""
        assert self.person.id is not None
        pid = self.person.id
        with project.transaction():
            project.add_person(self.person)
            for mask in self.masks:
                project.save_part_mask(pid, mask.annotator or "unknown", mask)
            if self.points is not None:
                project.set_sample_points(pid, self.points)
                for answers in self.answers:
                    project.save_answers(pid, answers)
            if self.gold is not None:
                project.set_gold(pid, self.gold)
            project.link_proposals(pid, self.proposal_ids)
        return pid
